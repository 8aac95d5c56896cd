/**
 * The code of a block that loads a dataset, with a variable named after it.
 */
const KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del ' +
    'elif else except finally for from global if import in is lambda nonlocal ' +
    'not or pass raise return try while with yield'
  ).split(' ')
);

/**
 * A Python name for a dataset's variable: "Sales 2024" -> `sales_2024`,
 * "2024-q1" -> `df_2024_q1`. Named after the dataset rather than `df`, so a
 * loading block does not overwrite another block's `df`.
 */
export function variableName(dataset: string): string {
  let name = dataset
    .toLowerCase()
    .replace(/\.[a-z0-9]+$/, '')
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!name) {
    return 'df';
  }
  if (/^[0-9]/.test(name)) {
    name = `df_${name}`;
  }
  return KEYWORDS.has(name) ? `${name}_` : name;
}

/** The code of a block loading a dataset (a JSON string is a valid Python literal). */
export function loadingCode(name: string): string {
  return `${variableName(name)} = ain.load(${JSON.stringify(name)})`;
}
