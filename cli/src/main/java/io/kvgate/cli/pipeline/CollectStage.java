package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.CorpusSpec;
import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.corpus.CorpusReader;
import io.kvgate.datasets.corpus.CorpusSource;
import io.kvgate.datasets.corpus.CorpusSummary;
import io.kvgate.datasets.corpus.DocumentShaper;
import io.kvgate.datasets.corpus.ShapedCorpus;
import io.kvgate.models.KvgateException;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.trainer.collect.CollectReport;
import io.kvgate.trainer.collect.CollectSettings;
import io.kvgate.trainer.collect.FeatureCollector;
import io.kvgate.trainer.collect.ModelFeatureSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage {@code collect}: KVzip targets and attention-input hidden states into Parquet shards (features/).
 * Resumable: the collector keeps every finished shard whose content key still matches.
 */
final class CollectStage implements Stage {
    static final String NAME = "collect";
    /** Longest document piece when corpus.max_tokens is left out and the model could score more (paper: 30K). */
    static final int DEFAULT_MAX_TOKENS = 30_000;
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
        try (ModelSession session = new ModelSession(cfg)) {
            // The corpus is shaped before the weights load, so its problems surface first.
            int positions = session.checkpoint().config().maxPositions();
            int room = ModelFeatureSource.maxContext(positions, session.scoring().prompt(), cfg.scoring().chunkSize())
                    - session.scoring().context().overhead();
            int max = c.maxTokens() != null ? c.maxTokens() : Math.min(DEFAULT_MAX_TOKENS, room);
            if (max > room) {
                throw new KvgateException(cfg.file() + ": corpus.max_tokens: " + max + " is more than this model can score: at most "
                        + room + " document tokens (" + positions + " positions, reconstruction pass included)");
            }
            if (max < c.minTokens()) {
                throw new KvgateException(cfg.file() + ": corpus.min_tokens: " + c.minTokens()
                        + " is above the longest document this model can score (" + max + ")");
            }
            io.kvgate.datasets.corpus.CorpusSpec spec = new io.kvgate.datasets.corpus.CorpusSpec(sources(c), c.textField(),
                    c.splitParagraphs(), c.minTokens(), max, c.concatTo(), c.maxDocuments(), cfg.fitting().seed());
            ShapedCorpus shaped = new DocumentShaper(spec, session.tokenizer()::encode).shape(new CorpusReader(spec));
            CorpusSummary s = shaped.summary();
            ctx.out().printf("      corpus: %d documents, %d tokens (%d-%d each), %d skipped%n", s.documentsUsed(), s.tokens(),
                    s.minLength(), s.maxLength(), s.skippedTotal());
            for (String p : s.problems()) System.err.println("kvgate: warning: " + p);
            ModelFeatureSource source = new ModelFeatureSource(session.model(), session.scoring().prompt(),
                    cfg.scoring().chunkSize(), session.scoring().notes());
            CollectReport report = new FeatureCollector(source, session.scoring().context(), settings).collect(shaped, ctx.output());
            FeatureManifest m = report.manifest();
            ctx.out().printf("      features: %d tokens (%d held out) x %d layers, %d shards (%d written, %d kept)%s%n",
                    m.tokens(), m.heldOutTokens(), m.gatedLayers().length, m.shards().size(), report.shardsWritten(),
                    report.shardsSkipped(), report.shardsWritten() > 0 ? String.format(", %.0f tokens/s", report.tokensPerSecond()) : "");
        }
    }

    private static List<String> sources(CorpusSpec c) {
        List<String> out = new ArrayList<>();
        if (c.embedded()) out.add(CorpusSource.EMBEDDED_NAME);
        for (Path p : c.paths()) out.add(p.toString());
        return out;
    }
}
