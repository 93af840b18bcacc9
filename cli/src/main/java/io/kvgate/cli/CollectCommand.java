package io.kvgate.cli;

import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.corpus.CorpusSummary;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.KvgateException;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.RepeatPrompts;
import io.kvgate.trainer.collect.CollectReport;
import io.kvgate.trainer.collect.CollectPlan;
import io.kvgate.trainer.collect.CollectSettings;
import io.kvgate.trainer.collect.ScoringChunk;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/** Collect KVzip targets and attention-input hidden states into Parquet shards. */
@Command(name = "collect", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Collect KVzip targets and attention-input hidden states into Parquet shards.",
                "Each document is wrapped as the model's context, prefilled, scored with KVzip; a seeded fraction of its "
                        + "positions becomes one row per gated layer. Resumable: finished shards are kept on restart."})
public final class CollectCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--corpus", required = true, split = ",", paramLabel = "PATH|embedded",
            description = "Text files or directories (.txt/.md, .jsonl, .parquet), or 'embedded' for the shipped corpus.")
    List<String> corpus;

    @Option(names = "--text-field", defaultValue = "text", description = "JSONL key / Parquet column holding the text (default: ${DEFAULT-VALUE}).")
    String textField;

    @Option(names = "--split-paragraphs", description = "Plain text: one document per blank-line-separated paragraph.")
    boolean splitParagraphs;

    @Option(names = "--min-tokens", defaultValue = "200", description = "Skip (and count) shorter documents (default: ${DEFAULT-VALUE}).")
    int minTokens;

    @Option(names = "--max-tokens", defaultValue = "0",
            description = "Cut longer documents into pieces of this length (default: the longest the model can score, at most 30000).")
    int maxTokens;

    @Option(names = "--concatenate-to", defaultValue = "0", description = "Join pieces until at least this long (0 = off).")
    int concatenateTo;

    @Option(names = "--max-documents", defaultValue = "0", description = "Stop after this many documents (0 = all).")
    int maxDocuments;

    @Option(names = "--sample-fraction", defaultValue = "0.25", description = "Fraction of each document's tokens kept (default: ${DEFAULT-VALUE}).")
    double sampleFraction;

    @Option(names = "--hidden-dtype", defaultValue = "f16", paramLabel = "f16|f32", description = "Storage of hidden states (default: ${DEFAULT-VALUE}).")
    String hiddenDtype;

    @Option(names = "--docs-per-shard", defaultValue = "16", description = "Documents per shard, the unit of resumption (default: ${DEFAULT-VALUE}).")
    int docsPerShard;

    @Option(names = "--held-out-every", defaultValue = "100", description = "Hold out every N-th sampled token (default: ${DEFAULT-VALUE}).")
    int heldOutEvery;

    @Option(names = "--seed", defaultValue = "0", description = "Document order and token sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--chunk", defaultValue = ScoringChunk.AUTO, paramLabel = "auto|N",
            description = "KVzip scoring chunk in tokens (default: ${DEFAULT-VALUE}: the model's, as the eval oracle's: "
                    + RepeatPrompts.TINY_MODEL_CHUNK + " for the tiny retrieval model, " + RepeatPrompts.OFFICIAL_CHUNK + " otherwise).")
    String chunk;

    @Option(names = "--context-template", paramLabel = "TEXT", description = "How a document becomes the context, with a {text} slot "
            + "(default: from the checkpoint; the tiny model uses <|im_start|>{text}<|im_end|>).")
    String contextTemplate;

    @Option(names = "--repeat-style", defaultValue = "auto", paramLabel = "auto|chat|plain|tiny",
            description = "How the context and KVzip's repeat request are wrapped (default: ${DEFAULT-VALUE}: chat if the "
                    + "checkpoint has a chat template, tiny for the bundled tiny model, else plain).")
    String repeatStyle;

    @Option(names = "--repeat-request", paramLabel = "TEXT", description = "KVzip's repeat request text (default: per style).")
    String repeatRequest;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Feature directory (shards + manifest.json).")
    Path out;

    @Override
    public void run() {
        Integer chunkSize;
        try {
            chunkSize = ScoringChunk.parse(chunk);
        } catch (IllegalArgumentException e) {
            throw new KvgateException("--chunk: " + e.getMessage());
        }
        CollectSettings settings = new CollectSettings(sampleFraction, HiddenDtype.parse(hiddenDtype), docsPerShard, heldOutEvery, seed,
                KvzipScorer.DEFAULT_SINK_TOKENS);
        CollectPlan plan = new CollectPlan(corpus, textField, splitParagraphs, minTokens, maxTokens, concatenateTo, maxDocuments,
                settings, chunkSize, RepeatPrompts.parseStyle(repeatStyle), contextTemplate, repeatRequest);
        try (Checkpoint checkpoint = modelOptions.openCheckpoint()) {
            CollectReport report = plan.run(checkpoint, modelOptions.device(), modelOptions.dataType(), out, CollectCommand::printCorpus);
            FeatureManifest m = report.manifest();
            System.out.printf("features: %d tokens (%d held out) x %d layers%s, %s hidden states, %d shards (%d written, %d already complete) -> %s%n",
                    m.tokens(), m.heldOutTokens(), m.gatedLayers().length, m.unscoredLayersNote(), m.hiddenDtype(), m.shards().size(),
                    report.shardsWritten(), report.shardsSkipped(), out);
            if (report.shardsWritten() > 0)
                System.out.printf("collected %d context tokens in %.1f s (%.0f tokens/s)%n", report.contextTokens(), report.seconds(), report.tokensPerSecond());
        }
    }

    private static void printCorpus(CorpusSummary s) {
        System.out.printf("corpus: %d documents used (%d tokens, %d-%d per document) from %d read; skipped %d%s%n",
                s.documentsUsed(), s.tokens(), s.minLength(), s.maxLength(), s.documentsRead(), s.skippedTotal(),
                s.skipped().isEmpty() ? "" : " " + s.skipped());
        for (String p : s.problems()) System.err.println("kvgate: warning: " + p);
    }
}
