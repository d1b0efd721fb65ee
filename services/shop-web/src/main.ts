/// <reference lib="dom" />
/**
 * shop-web: the page. Every value from a token or the API is written with textContent (the
 * CSP forbids inline script anyway). The page never starts a login by itself — only the
 * Login button does — so a failing login can never turn into a redirect loop.
 */
import { ApiClient, type Catalog, type Order, SessionExpiredError } from './api-client.js';
import { Auth } from './auth.js';
import { parseWebClientConfig, type WebClientConfig } from './client-config.js';
import { describeApiError, describeLoginError } from './messages.js';

function el<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`page has no #${id} of type ${type.name}`);
  return found;
}

const ui = {
  message: el('message', HTMLParagraphElement),
  status: el('status', HTMLParagraphElement),
  loggedOut: el('logged-out', HTMLElement),
  loggedIn: el('logged-in', HTMLElement),
  login: el('login', HTMLButtonElement),
  logout: el('logout', HTMLButtonElement),
  userName: el('user-name', HTMLElement),
  userRoles: el('user-roles', HTMLElement),
  orderForm: el('order-form', HTMLFormElement),
  sku: el('order-sku', HTMLSelectElement),
  quantity: el('order-quantity', HTMLInputElement),
  orders: el('order-rows', HTMLTableSectionElement),
  noOrders: el('no-orders', HTMLParagraphElement),
  adminPanel: el('admin-panel', HTMLElement),
  adminRefresh: el('admin-refresh', HTMLButtonElement),
  adminStats: el('admin-stats', HTMLElement),
};

function showMessage(text: string, kind: 'error' | 'info' = 'error'): void {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
  ui.message.hidden = false;
}

function clearMessage(): void {
  ui.message.textContent = '';
  ui.message.hidden = true;
}

function money(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`;
}

function cell(row: HTMLTableRowElement, text: string): void {
  const td = document.createElement('td');
  td.textContent = text;
  row.append(td);
}

function renderOrders(orders: readonly Order[]): void {
  ui.orders.replaceChildren();
  for (const order of [...orders].sort((a, b) => b.createdAt.localeCompare(a.createdAt))) {
    const row = document.createElement('tr');
    row.dataset.orderId = order.id;
    cell(row, order.id.slice(0, 8));
    cell(row, order.items.map((i) => `${String(i.quantity)} × ${i.sku}`).join(', '));
    cell(row, money(order.totalCents, order.currency));
    cell(row, order.status);
    cell(row, new Date(order.createdAt).toLocaleString('en-GB', { timeZone: 'UTC' }));
    ui.orders.append(row);
  }
  ui.noOrders.hidden = orders.length > 0;
}

function renderCatalog({ currency, items }: Catalog): void {
  ui.sku.replaceChildren(
    ...items.map((item) => {
      const option = document.createElement('option');
      option.value = item.sku;
      option.textContent = `${item.name} (${money(item.priceCents, currency)})`;
      return option;
    }),
  );
}

async function start(): Promise<void> {
  let config: WebClientConfig;
  try {
    const res = await fetch('/config.json', { cache: 'no-store', credentials: 'omit' });
    if (!res.ok) throw new Error(`HTTP ${String(res.status)}`);
    config = parseWebClientConfig(await res.json());
  } catch (err) {
    showMessage(
      `The app cannot start: its configuration is unavailable (${err instanceof Error ? err.message : String(err)}).`,
    );
    return;
  }

  const auth = new Auth(config, (message) => {
    showLoggedOut();
    showMessage(message);
  });
  const api = new ApiClient(config.apiBase, auth);

  function showLoggedOut(): void {
    ui.loggedIn.hidden = true;
    ui.adminPanel.hidden = true;
    ui.orders.replaceChildren();
    ui.adminStats.replaceChildren();
    ui.userName.textContent = '';
    ui.userRoles.textContent = '';
    ui.loggedOut.hidden = false;
    ui.status.textContent = 'Not logged in';
    document.body.dataset.state = 'logged-out';
  }

  async function apiCall(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      if (err instanceof SessionExpiredError) {
        showLoggedOut();
      }
      showMessage(describeApiError(err));
    }
  }

  async function loadOrders(): Promise<void> {
    await apiCall(async () => {
      renderOrders(await api.listOrders());
    });
  }

  async function loadAdminStats(): Promise<void> {
    await apiCall(async () => {
      const stats = await api.adminStats();
      const entries: [string, string][] = [
        ['Orders', String(stats.orders)],
        ['Customers', String(stats.customers)],
        ['Revenue', money(stats.revenueCents, stats.currency)],
      ];
      ui.adminStats.replaceChildren(
        ...entries.flatMap(([k, v]) => {
          const dt = document.createElement('dt');
          dt.textContent = k;
          const dd = document.createElement('dd');
          dd.textContent = v;
          return [dt, dd];
        }),
      );
    });
  }

  async function showLoggedIn(): Promise<void> {
    const profile = auth.profile();
    if (!profile) {
      showLoggedOut();
      return;
    }
    ui.userName.textContent = profile.name;
    ui.userRoles.textContent = profile.roles.join(', ') || 'none';
    ui.status.textContent = `Logged in as ${profile.name}`;
    ui.loggedOut.hidden = true;
    ui.loggedIn.hidden = false;
    // Cosmetic: the mesh refuses /api/admin/* to anyone without ADMIN, whatever the page shows.
    ui.adminPanel.hidden = !profile.roles.includes('ADMIN');
    document.body.dataset.state = 'logged-in';
    try {
      renderCatalog(await api.catalog());
    } catch (err) {
      showMessage(describeApiError(err));
    }
    await loadOrders();
    if (!ui.adminPanel.hidden) await loadAdminStats();
  }

  ui.login.addEventListener('click', () => {
    clearMessage();
    ui.login.disabled = true;
    auth.login().catch(async (err: unknown) => {
      await auth.forget();
      ui.login.disabled = false;
      showMessage(describeLoginError(err));
    });
  });

  ui.logout.addEventListener('click', () => {
    clearMessage();
    showLoggedOut();
    auth.logout().catch(async (err: unknown) => {
      await auth.forget();
      showMessage(
        `You are logged out of this page, but the login server could not end the session: ${describeLoginError(err)}`,
      );
    });
  });

  ui.orderForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearMessage();
    const quantity = Number(ui.quantity.value);
    const key = crypto.randomUUID();
    void apiCall(async () => {
      const order = await api.createOrder([{ sku: ui.sku.value, quantity }], key);
      showMessage(`Order ${order.id.slice(0, 8)} created.`, 'info');
      renderOrders(await api.listOrders());
    });
  });

  ui.adminRefresh.addEventListener('click', () => {
    void loadAdminStats();
  });

  const callbackPath = new URL(config.redirectUri).pathname;
  if (window.location.pathname === callbackPath) {
    const url = window.location.href;
    // The code and state leave the address bar (and history) at once, whatever happens next.
    window.history.replaceState(null, '', '/');
    try {
      await auth.completeLogin(url);
    } catch (err) {
      await auth.forget();
      showLoggedOut();
      showMessage(describeLoginError(err));
      return;
    }
    await showLoggedIn();
    return;
  }
  showLoggedOut();
}

void start();
