// Errors of the image code. Each names the image, blob or layer entry involved.
import { TsrtError } from '../util/errors';

/** An image is malformed, unsupported, or its content does not match its digests. */
export class ImageError extends TsrtError {
  constructor(message: string) {
    super('EIMAGE', message);
  }
}

/** A layer entry would write outside its layer, or through a link. */
export class UnsafeLayerError extends TsrtError {
  constructor(message: string) {
    super('EUNSAFELAYER', message);
  }
}

/** A bundle directory is missing, not made by `tsrt bundle create`, or in use. */
export class BundleError extends TsrtError {
  constructor(message: string) {
    super('EBUNDLE', message);
  }
}
