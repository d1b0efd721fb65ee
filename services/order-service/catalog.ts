export interface CatalogItem {
  readonly sku: string;
  readonly name: string;
  readonly priceCents: number;
}

/** The public catalog (static for now). */
export const CATALOG: readonly CatalogItem[] = [
  { sku: 'MW-MUG', name: 'meshward mug', priceCents: 1200 },
  { sku: 'MW-TEE', name: 'meshward t-shirt', priceCents: 2500 },
  { sku: 'MW-STICKER', name: 'sticker pack', priceCents: 400 },
];

export const CURRENCY = 'EUR';
