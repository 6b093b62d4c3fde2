// A small stage runner: create and exec are lists of named stages run in order. A stage
// that takes something the container must not keep after a failure (the state dir, a
// process, cgroups, host mounts) has an undo; when a stage throws, the undos of the
// stages that completed run in reverse and the stage's own error goes on unchanged (every
// error already names what failed). With --debug each stage is logged.
import { logDebug } from '../cli/log';

export interface Stage<C> {
  name: string;
  /** the stage applies to this container (default: always); a skipped stage has no undo */
  when?(ctx: C): boolean;
  run(ctx: C): void | Promise<void>;
  undo?(ctx: C): void | Promise<void>;
}

/** Runs `stages` over ctx; `label` prefixes the debug lines ("create ID"). */
export async function runStages<C>(label: string, stages: readonly Stage<C>[], ctx: C): Promise<void> {
  const done: Stage<C>[] = [];
  for (const stage of stages) {
    if (stage.when && !stage.when(ctx)) continue;
    logDebug(`${label}: stage ${stage.name}`);
    try {
      await stage.run(ctx);
    } catch (e) {
      logDebug(`${label}: stage ${stage.name} failed, undoing ${done.filter((s) => s.undo).map((s) => s.name).reverse().join(', ') || 'nothing'}`);
      for (const s of done.reverse()) await s.undo?.(ctx);
      throw e;
    }
    done.push(stage);
  }
}
