// util.inherits for the sharedb client in the browser (see vite.config.mjs).
export function inherits(ctor, superCtor) {
  ctor.super_ = superCtor;
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}
export default { inherits };
