// hooks.mjs lets Node's own ES module loader read dt-sql-parser, which check.mjs registers
// before importing it.
//
// dt-sql-parser 4.5.1 ships ES modules written for bundlers: its package.json has no
// "type": "module", and its imports name folders and files without an extension
// ('./parser', '../common/types'), both of which Node refuses (ERR_UNSUPPORTED_DIR_IMPORT,
// ERR_MODULE_NOT_FOUND). These hooks touch only relative imports made from inside
// node_modules/dt-sql-parser/dist: they try the specifier with ".js", then "/index.js", and load
// those files as ES modules. Everything else resolves and loads exactly as Node would.

const parserDist = '/node_modules/dt-sql-parser/dist/';

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!specifier.startsWith('.') || !context.parentURL?.includes(parserDist)) throw err;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await next(specifier + suffix, context);
      } catch {
        // try the next suffix; the original error is the one worth reporting
      }
    }
    throw err;
  }
}

export async function load(url, context, next) {
  if (url.includes(parserDist)) return next(url, { ...context, format: 'module' });
  return next(url, context);
}
