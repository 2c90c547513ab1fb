/**
 * TurboFan held back while the daemon starts. Loading its ~130 modules makes
 * Node's own loader functions (URL parsing, path normalizing) hot, and
 * TurboFan would compile them: those first compilations touch ~4 MB of the
 * node binary's compiler code and leave optimized code and zone memory
 * behind, resident for the daemon's life, for functions that hardly run once
 * it has started. bin/skiff holds TurboFan back before the daemon's modules
 * load; the daemon lets it go once it has started, so what gets hot under
 * load (the embedded DNS, the API) is optimized as before. Let go before the
 * start instead, the loader's functions, still counted hot, were compiled
 * during it and nearly all of the saving was lost.
 */
import { setFlagsFromString } from 'node:v8';

export function holdOptimizingCompiler(): void {
  setFlagsFromString('--no-turbofan');
}

export function releaseOptimizingCompiler(): void {
  setFlagsFromString('--turbofan');
}
