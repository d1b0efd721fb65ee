/**
 * Packs folders into an OCI image archive that `ctr images import` loads under a given name:
 * the single-node cluster's images, built without Docker or a registry.
 *
 *   tsx scripts/local-cluster/oci-image.ts --ref NAME:TAG --out FILE.tar --layer DIR [--layer DIR ...]
 *       [--entrypoint JSON-ARRAY] [--cmd JSON-ARRAY] [--user UID:GID] [--workdir DIR] [--env K=V ...]
 *
 * Each --layer is one uncompressed layer, in order (later layers win). Files are stored as
 * root-owned with mtime 0 and sorted names, so the same folders give the same digests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface ImageSpec {
  ref: string;
  out: string;
  layers: string[];
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workdir?: string;
  env: string[];
}

function fail(message: string): never {
  process.stderr.write(`oci-image: ${message}\n`);
  process.exit(2);
}

function jsonArgv(flag: string, value: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail(`${flag} '${value}' is not JSON (want an array of strings, e.g. ["/bin/app","--flag"])`);
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    fail(`${flag} '${value}' must be a JSON array of strings`);
  }
  return parsed;
}

function parseArgs(argv: string[]): ImageSpec {
  const spec: Partial<ImageSpec> & { layers: string[]; env: string[] } = { layers: [], env: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv.at(i + 1);
    if (value === undefined) fail(`${flag} needs a value`);
    switch (flag) {
      case '--ref':
        spec.ref = value;
        break;
      case '--out':
        spec.out = resolve(value);
        break;
      case '--layer':
        if (!statSync(value, { throwIfNoEntry: false })?.isDirectory())
          fail(`--layer '${value}' is not a folder`);
        spec.layers.push(resolve(value));
        break;
      case '--entrypoint':
        spec.entrypoint = jsonArgv(flag, value);
        break;
      case '--cmd':
        spec.cmd = jsonArgv(flag, value);
        break;
      case '--user':
        spec.user = value;
        break;
      case '--workdir':
        spec.workdir = value;
        break;
      case '--env':
        if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(value)) fail(`--env '${value}' must be NAME=VALUE`);
        spec.env.push(value);
        break;
      default:
        fail(`unknown argument '${flag}'`);
    }
  }
  if (
    spec.ref === undefined ||
    !/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$/.test(spec.ref)
  ) {
    fail(
      `--ref '${spec.ref ?? ''}' must be a full image name with a tag, e.g. docker.io/library/redis:7.4.5`,
    );
  }
  if (spec.out === undefined) fail('--out is required');
  if (spec.layers.length === 0) fail('at least one --layer is required');
  return spec as ImageSpec;
}

interface Blob {
  digest: string;
  size: number;
}

function sha256File(path: string): string {
  const out = execFileSync('sha256sum', [path], { encoding: 'utf8' });
  return out.slice(0, 64);
}

function writeBlob(blobs: string, content: string): Blob {
  const digest = createHash('sha256').update(content).digest('hex');
  writeFileSync(join(blobs, digest), content);
  return { digest: `sha256:${digest}`, size: Buffer.byteLength(content) };
}

function build(spec: ImageSpec): void {
  const work = mkdtempSync(join(tmpdir(), 'meshward-oci-'));
  try {
    const blobs = join(work, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const layers: Blob[] = spec.layers.map((dir) => {
      const tarball = join(work, 'layer.tar');
      execFileSync('tar', [
        '-C',
        dir,
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@0',
        '-cf',
        tarball,
        '.',
      ]);
      const digest = sha256File(tarball);
      renameSync(tarball, join(blobs, digest));
      return { digest: `sha256:${digest}`, size: statSync(join(blobs, digest)).size };
    });
    const config = writeBlob(
      blobs,
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {
          ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
          ...(spec.cmd ? { Cmd: spec.cmd } : {}),
          ...(spec.user ? { User: spec.user } : {}),
          ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
          Env: spec.env.some((pair) => pair.startsWith('PATH='))
            ? spec.env
            : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...spec.env],
        },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
      }),
    );
    const manifest = writeBlob(
      blobs,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((layer) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          ...layer,
        })),
      }),
    );
    const tag = spec.ref.slice(spec.ref.lastIndexOf(':') + 1);
    writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(work, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: {
              'io.containerd.image.name': spec.ref,
              'org.opencontainers.image.ref.name': tag,
            },
          },
        ],
      }),
    );
    const partial = `${spec.out}.partial`;
    execFileSync('tar', ['-C', work, '-cf', partial, 'oci-layout', 'index.json', 'blobs']);
    renameSync(partial, spec.out);
    const bytes = layers.reduce((sum, layer) => sum + layer.size, 0);
    process.stdout.write(
      `${spec.ref}: ${layers.length} layer(s), ${(bytes / 1048576).toFixed(0)} MiB -> ${spec.out}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

build(parseArgs(process.argv.slice(2)));
