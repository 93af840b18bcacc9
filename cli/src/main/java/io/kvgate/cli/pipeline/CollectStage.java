package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.CorpusSpec;
import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.corpus.CorpusSource;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.KvgateException;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.trainer.collect.CollectPlan;
import io.kvgate.trainer.collect.CollectReport;
import io.kvgate.trainer.collect.CollectSettings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage {@code collect}: KVzip targets and attention-input hidden states into Parquet shards (features/), through
 * the same {@link CollectPlan} as {@code kvgate collect}. Resumable: the collector keeps every finished shard whose
 * content key still matches.
 */
final class CollectStage implements Stage {
    static final String NAME = "collect";
    private final ExperimentConfig cfg;
    private final ModelFingerprint fingerprint;

    CollectStage(ExperimentConfig cfg, ModelFingerprint fingerprint) {
        this.cfg = cfg;
        this.fingerprint = fingerprint;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<String> upstream() {
        return List.of();
    }

    @Override
    public String outputDir() {
        return "features";
    }

    @Override
    public Map<String, Object> inputs() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_fingerprint", fingerprint.get());
        m.put("scoring", cfg.section("scoring"));
        m.put("corpus", cfg.section("corpus"));
        Map<String, String> corpusDigests = new LinkedHashMap<>();
        for (Path p : cfg.corpus().paths()) corpusDigests.put(p.toString(), DirectoryDigest.of(p));
        m.put("corpus_files", corpusDigests);
        m.put("seed", cfg.fitting().seed());
        m.put("held_out_every", cfg.fitting().heldOutEvery());
        return m;
    }

    @Override
    public boolean resumable() {
        return true;
    }

    @Override
    public void run(StageContext ctx) {
        CorpusSpec c = cfg.corpus();
        CollectSettings settings = new CollectSettings(c.sampleFraction(), HiddenDtype.parse(c.hiddenDtype()),
                c.documentsPerShard(), cfg.fitting().heldOutEvery(), cfg.fitting().seed(), KvzipScorer.DEFAULT_SINK_TOKENS);
        CollectPlan plan = new CollectPlan(sources(c), c.textField(), c.splitParagraphs(), c.minTokens(),
                c.maxTokens() == null ? 0 : c.maxTokens(), c.concatTo(), c.maxDocuments(), settings, cfg.scoring().chunkSize(),
                cfg.scoring().style(), c.contextTemplate(), cfg.scoring().request());
        ComputeTarget target = cfg.model().target();
        CollectReport report;
        try (Checkpoint checkpoint = Checkpoint.open(cfg.model().path())) {
            report = plan.run(checkpoint, target.device(), target.dtype(), ctx.output(), s -> {
                ctx.out().printf("      corpus: %d documents, %d tokens (%d-%d each), %d skipped%n", s.documentsUsed(), s.tokens(),
                        s.minLength(), s.maxLength(), s.skippedTotal());
                for (String p : s.problems()) System.err.println("kvgate: warning: " + p);
            });
        } catch (KvgateException e) {
            // The plan names its settings ("max tokens 900: ..."); say which config keys they are.
            throw new KvgateException(cfg.file().getFileName() + ": corpus: " + e.getMessage()
                    .replace("max tokens ", "corpus.max_tokens ").replace("min tokens ", "corpus.min_tokens "), e);
        }
        FeatureManifest m = report.manifest();
        ctx.out().printf("      features: %d tokens (%d held out) x %d layers%s, %d shards (%d written, %d kept)%s%n",
                m.tokens(), m.heldOutTokens(), m.gatedLayers().length, m.unscoredLayersNote(), m.shards().size(), report.shardsWritten(),
                report.shardsSkipped(), report.shardsWritten() > 0 ? String.format(", %.0f tokens/s", report.tokensPerSecond()) : "");
    }

    private static List<String> sources(CorpusSpec c) {
        List<String> out = new ArrayList<>();
        if (c.embedded()) out.add(CorpusSource.EMBEDDED_NAME);
        for (Path p : c.paths()) out.add(p.toString());
        return out;
    }
}
