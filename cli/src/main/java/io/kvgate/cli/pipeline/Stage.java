package io.kvgate.cli.pipeline;

import java.util.List;
import java.util.Map;

/**
 * One step of {@code kvgate run}: it owns one directory of the experiment, reads the outputs of its upstream
 * stages, and is skipped on a rerun when its inputs are unchanged and its outputs are still what it wrote.
 */
public interface Stage {
    /** Unique name, shown in progress lines and accepted by {@code --force}: collect, train-sink, eval... */
    String name();

    /** A second name {@code --force} accepts for a family of stages ("train" for every train-*). */
    default String group() {
        return name();
    }

    /** Stages whose outputs this one reads; their output digests become part of this stage's inputs. */
    List<String> upstream();

    /** The directory this stage owns, relative to the experiment directory (e.g. "gates/sink"). */
    String outputDir();

    /**
     * Everything besides upstream outputs that determines this stage's result: resolved config sections,
     * digests of external files (corpus, tasks), the model fingerprint. JSON-like values (maps, lists, scalars).
     */
    Map<String, Object> inputs();

    /**
     * True when an interrupted run with the same inputs may continue in its partial output (collect keeps
     * completed shards); false means the directory is emptied before the stage runs again.
     */
    default boolean resumable() {
        return false;
    }

    /** Produces the outputs in {@code ctx.output()}. Throwing leaves the stage incomplete (rerun next time). */
    void run(StageContext ctx);
}
