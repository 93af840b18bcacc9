package io.kvgate.trainer.collect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvgate.datasets.FeatureBatch;
import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.corpus.CorpusReader;
import io.kvgate.datasets.corpus.CorpusSource;
import io.kvgate.datasets.corpus.CorpusSpec;
import io.kvgate.datasets.corpus.DocumentShaper;
import io.kvgate.datasets.corpus.ShapedCorpus;
import io.kvgate.datasets.corpus.ShapedDocument;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import io.kvgate.models.util.Progress;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.KvzipScores;
import io.kvgate.objectives.RepeatPrompt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Collection from the bundled tiny model on the embedded corpus: rows are the model's own hidden states and KVzip scores. */
class TinyModelCollectTest {
    static final int IM_START = 257, IM_END = 258;
    static Model model;

    @BeforeAll
    static void load() {
        Progress.setEnabled(false);
        model = Model.load(Checkpoint.open(Path.of("../checkpoints/tiny-retrieval-qwen3")));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static RepeatPrompt prompt() {
        return RepeatPrompt.plain(FeatureCollectorTest.BYTES, RepeatPrompt.TINY_MODEL_REQUEST, IM_START, IM_END);
    }

    @Test
    void collectsTheModelsHiddenStatesAndKvzipTargets(@TempDir Path dir) {
        CorpusSpec spec = CorpusSpec.of(CorpusSource.EMBEDDED_NAME).withLengths(300, 500).withMaxDocuments(3).withSeed(3);
        ShapedCorpus corpus = new DocumentShaper(spec, FeatureCollectorTest.BYTES).shape(new CorpusReader(spec));
        assertEquals(3, corpus.documents().size());
        ContextFormat format = new ContextFormat(new int[] {IM_START}, new int[] {IM_END});
        ModelFeatureSource source = new ModelFeatureSource(model, prompt(), 2000, Map.of());
        assertTrue(source.maxContext() >= 700, "tiny model fits 700-token contexts: " + source.maxContext());
        CollectSettings settings = new CollectSettings(0.25, HiddenDtype.F32, 2, 10, 1, 4);
        CollectReport report = new FeatureCollector(source, format, settings).collect(corpus, dir);
        System.out.printf("tiny model collection: %d context tokens in %.2f s (%.0f tok/s)%n",
                report.contextTokens(), report.seconds(), report.tokensPerSecond());

        FeatureDataset ds = FeatureDataset.open(dir);
        FeatureManifest m = ds.manifest();
        assertEquals(model.checkpoint().fingerprint(), m.modelFingerprint());
        assertEquals("qwen3", m.modelType());
        assertEquals(256, m.hiddenSize());
        assertEquals(2, m.kvHeads());
        assertEquals(4, m.groupSize());
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, m.gatedLayers());
        assertEquals(2, m.shards().size());

        // Recompute document 0 independently: full hidden states from an observer, scores from the scorer.
        ShapedDocument doc = corpus.documents().get(0);
        int[] ctx = format.wrap(doc.tokens());
        float[][] hidden = new float[6][];
        KvzipScores scores;
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, ctx, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE)
                    .withObserver(new ForwardObserver() {
                        @Override
                        public void attentionInput(int layer, NDArray x, int[] positions) {
                            assertEquals(0, positions[0], "one prefill call per layer for a short context");
                            hidden[layer] = x.toFloatArray();
                        }
                    }));
            scores = new KvzipScorer(prompt(), 2000).score(model, cache, ctx);
        }
        int checked = 0;
        for (int l = 0; l < 6; l++) {
            FeatureBatch b = ds.read(m.shards().get(0).name(), l);
            for (int r = 0; r < b.rows(); r++) {
                assertTrue(b.target()[r * 2] >= 0 && b.target()[r * 2] <= 1 && b.target()[r * 2 + 1] <= 1);
                if (b.doc()[r] != 0) continue;
                int p = b.position()[r];
                for (int k = 0; k < 256; k++) assertEquals(hidden[l][p * 256 + k], b.x()[r * 256 + k], 1e-5f);
                for (int h = 0; h < 2; h++) assertEquals(scores.scores()[l][h][p], b.target()[r * 2 + h], 1e-6f);
                checked++;
            }
        }
        long expected = Math.round(0.25 * (ctx.length - 4));
        assertEquals(6 * expected, checked);

        // A rerun over complete shards never loads the weights.
        try (ModelFeatureSource lazy = new ModelFeatureSource(model.checkpoint(), ai.djl.Device.cpu(), ai.djl.ndarray.types.DataType.FLOAT32,
                prompt(), 2000, Map.of())) {
            CollectReport again = new FeatureCollector(lazy, format, settings).collect(corpus, dir);
            assertEquals(2, again.shardsSkipped());
            assertTrue(!lazy.modelLoaded(), "weights loaded although every shard was complete");
            assertEquals(m.configKey(), again.manifest().configKey());
        }
        assertTrue(m.tokens() >= 3 * Math.round(0.25 * (300 + 2 - 4)), "tokens " + m.tokens());
    }
}
