#!/usr/bin/env bash
# pki.sh DIR NODE_IP NODE_NAME CONTEXT: a throwaway CA (30 days) and every certificate and
# kubeconfig the single-node cluster needs. Keys never leave DIR.
set -euo pipefail
dir="$1" node_ip="$2" node_name="$3" context="$4"
cd "${dir}"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=meshward-local-ca" 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

# cert NAME CN ORGANIZATION [SUBJECT_ALT_NAMES]: a server cert when SANs are given, else a client cert.
cert() {
  local name="$1" cn="$2" org="$3" sans="${4:-}"
  openssl req -newkey rsa:2048 -nodes -keyout "${name}.key" -out "${name}.csr" -subj "/CN=${cn}${org:+/O=${org}}" 2>/dev/null
  if [[ -n "${sans}" ]]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${sans}" >"${name}.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"${name}.ext"
  fi
  openssl x509 -req -in "${name}.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "${name}.crt" -days 30 \
    -extfile "${name}.ext" 2>/dev/null
  rm -f "${name}.csr" "${name}.ext"
}
cert apiserver kube-apiserver "" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.96.0.1,IP:${node_ip}"
cert admin meshward-admin system:masters
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert kubelet "system:node:${node_name}" system:nodes
cert kubelet-serving "${node_name}" "" "DNS:${node_name},IP:${node_ip},IP:127.0.0.1"
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert proxy system:kube-proxy ""
cert kube-router system:kube-router ""

for name in admin kubelet controller-manager scheduler proxy kube-router; do
  cat >"${name}.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: ${context}, cluster: {server: "https://${node_ip}:6443", certificate-authority: "${dir}/ca.crt"}}]
users: [{name: ${name}, user: {client-certificate: "${dir}/${name}.crt", client-key: "${dir}/${name}.key"}}]
contexts: [{name: ${context}, context: {cluster: ${context}, user: ${name}}}]
current-context: ${context}
KUBECONFIG
done
chmod 600 ./*.key
