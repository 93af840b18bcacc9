package io.kvgate.trainer.collect;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.ShardInfo;
import io.kvgate.datasets.corpus.CorpusReader;
import io.kvgate.datasets.corpus.CorpusSpec;
import io.kvgate.datasets.corpus.DocumentShaper;
import io.kvgate.datasets.corpus.ShapedCorpus;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The collector with a synthetic feature source: rows land where they belong, and interrupted runs resume. */
class FeatureCollectorTest {
    static final int D = 16, H = 2;
    static final int[] GATED = {0, 1, 3};
    static final Function<String, int[]> BYTES = s -> {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xff;
        return ids;
    };

    @BeforeAll
    static void quiet() {
        Progress.setEnabled(false);
    }

    /** Hidden value and target as known functions of (layer, position, token), so rows can be checked. */
    static float hidden(int layer, int position, int token, int j) {
        return layer * 1000 + position + token / 256f + j / 64f;
    }

    static float target(int layer, int position, int head) {
        return ((layer * 31 + position * 7 + head * 13) % 101) / 100f;
    }

    /** A source that computes the known functions; fails on the {@code failAt}-th call if asked. */
    static final class FakeSource implements FeatureSource {
        int calls;
        int failAt = -1;
        boolean nanTarget;

        @Override
        public SourceInfo info() {
            return new SourceInfo("fake-fingerprint", "fake", 4, D, H, 3, GATED, Map.of("scorer", "fake"));
        }

        @Override
        public float[][] run(int[] ctx, int[] sampled, HiddenSink sink) {
            if (calls++ == failAt) throw new IllegalStateException("killed mid-shard");
            float[][] targets = new float[GATED.length][sampled.length * H];
            for (int li = 0; li < GATED.length; li++) {
                // hand rows over in two pieces, as a chunked prefill would
                for (int half = 0; half < 2; half++) {
                    int from = half == 0 ? 0 : sampled.length / 2, to = half == 0 ? sampled.length / 2 : sampled.length;
                    int[] idx = new int[to - from];
                    float[] rows = new float[idx.length * D];
                    for (int j = from; j < to; j++) {
                        idx[j - from] = j;
                        for (int k = 0; k < D; k++) rows[(j - from) * D + k] = hidden(GATED[li], sampled[j], ctx[sampled[j]], k);
                    }
                    sink.accept(li, idx, rows);
                }
                for (int j = 0; j < sampled.length; j++)
                    for (int h = 0; h < H; h++) targets[li][j * H + h] = target(GATED[li], sampled[j], h);
            }
            if (nanTarget && calls == 3) targets[1][0] = Float.NaN;
            return targets;
        }
    }

    static ShapedCorpus corpus(Path dir) throws Exception {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 11; i++) b.append(String.valueOf((char) ('a' + i)).repeat(60 + 7 * i)).append("\n\n");
        b.append("short\n\n");
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, b.toString());
        CorpusSpec spec = CorpusSpec.of(f.toString()).withSplitParagraphs(true).withLengths(50, 100).withSeed(5);
        return new DocumentShaper(spec, BYTES).shape(new CorpusReader(spec));
    }

    static final ContextFormat WRAP = new ContextFormat(new int[] {257}, new int[] {258});
    static final CollectSettings SETTINGS = new CollectSettings(0.3, HiddenDtype.F32, 4, 5, 9, 4);

    static List<FeatureBatch> all(FeatureDataset ds) {
        List<FeatureBatch> out = new ArrayList<>();
        for (int l : GATED) ds.forEachBatch(l, out::add);
        return out;
    }

    @Test
    void rowsHoldTheSampledTokensOfEveryGatedLayer(@TempDir Path dir) throws Exception {
        ShapedCorpus corpus = corpus(dir);
        assertEquals(11, corpus.documents().size());
        CollectReport report = new FeatureCollector(new FakeSource(), WRAP, SETTINGS).collect(corpus, dir.resolve("features"));
        assertEquals(3, report.shardsWritten()); // 11 documents, 4 per shard
        FeatureDataset ds = FeatureDataset.open(dir.resolve("features"));
        FeatureManifest m = ds.manifest();
        assertEquals("fake-fingerprint", m.modelFingerprint());
        assertArrayEquals(GATED, m.gatedLayers());
        assertEquals(1, m.corpus().skipped().get("shorter_than_min_tokens"));
        assertEquals(11, m.corpus().documentsUsed());

        long expectedTokens = 0;
        for (var d : corpus.documents()) expectedTokens += Math.max(1, Math.round(0.3 * (d.length() + 2 - 4)));
        assertEquals(expectedTokens, m.tokens());
        for (int l : GATED) {
            long rows = 0, held = 0;
            for (String shard : ds.shardNames()) {
                FeatureBatch b = ds.read(shard, l);
                for (int r = 0; r < b.rows(); r++) {
                    int pos = b.position()[r];
                    int[] ctx = WRAP.wrap(corpus.documents().get(b.doc()[r]).tokens());
                    assertTrue(pos >= 4 && pos < ctx.length);
                    for (int k = 0; k < D; k++) assertEquals(hidden(l, pos, ctx[pos], k), b.x()[r * D + k]);
                    for (int h = 0; h < H; h++) assertEquals(target(l, pos, h), b.target()[r * H + h]);
                    if (b.heldOut()[r]) held++;
                }
                rows += b.rows();
            }
            assertEquals(m.tokens(), rows);
            assertEquals(m.heldOutTokens(), held);
        }
        // every 5th sampled token held out, give or take one per document
        assertTrue(Math.abs(m.heldOutTokens() - m.tokens() / 5.0) <= 11, m.heldOutTokens() + " of " + m.tokens());
    }

    @Test
    void interruptedCollectionResumesAndEqualsAnUninterruptedRun(@TempDir Path dir) throws Exception {
        ShapedCorpus corpus = corpus(dir);
        Path clean = dir.resolve("clean"), resumed = dir.resolve("resumed");
        new FeatureCollector(new FakeSource(), WRAP, SETTINGS).collect(corpus, clean);

        FakeSource failing = new FakeSource();
        failing.failAt = 6; // second document of shard 1 (documents 4..7)
        assertThrows(IllegalStateException.class, () -> new FeatureCollector(failing, WRAP, SETTINGS).collect(corpus, resumed));
        assertTrue(Files.isDirectory(resumed.resolve("shard-00000")));
        assertFalse(Files.exists(resumed.resolve("shard-00001")), "the interrupted shard must not look finished");
        assertFalse(Files.exists(resumed.resolve(FeatureManifest.FILE)));
        // a crashed process's leftover (kill -9: no cleanup ran)
        Files.createDirectories(resumed.resolve("shard-00002.tmp-999999999"));
        Files.writeString(resumed.resolve("shard-00002.tmp-999999999/layer-00.parquet"), "PAR1 truncated");

        FakeSource counting = new FakeSource();
        CollectReport report = new FeatureCollector(counting, WRAP, SETTINGS).collect(corpus, resumed);
        assertEquals(1, report.shardsSkipped());
        assertEquals(2, report.shardsWritten());
        assertEquals(7, counting.calls, "only documents of unfinished shards are run again");
        assertFalse(Files.exists(resumed.resolve("shard-00002.tmp-999999999")));

        List<FeatureBatch> a = all(FeatureDataset.open(clean)), b = all(FeatureDataset.open(resumed));
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).x(), b.get(i).x());
            assertArrayEquals(a.get(i).target(), b.get(i).target());
            assertArrayEquals(a.get(i).heldOut(), b.get(i).heldOut());
            assertArrayEquals(a.get(i).position(), b.get(i).position());
        }
        assertEquals(Files.readString(clean.resolve(FeatureManifest.FILE)), Files.readString(resumed.resolve(FeatureManifest.FILE)));

        // a finished run is all skipped; another seed redoes every shard
        FakeSource again = new FakeSource();
        assertEquals(3, new FeatureCollector(again, WRAP, SETTINGS).collect(corpus, resumed).shardsSkipped());
        assertEquals(0, again.calls);
        FakeSource reseeded = new FakeSource();
        assertEquals(3, new FeatureCollector(reseeded, WRAP, SETTINGS.withSeed(10)).collect(corpus, resumed).shardsWritten());
        assertEquals(11, reseeded.calls);
    }

    @Test
    void fewerShardsThanBeforeRemovesStaleOnesAndF16Works(@TempDir Path dir) throws Exception {
        ShapedCorpus corpus = corpus(dir);
        Path out = dir.resolve("f");
        new FeatureCollector(new FakeSource(), WRAP, SETTINGS.withDocsPerShard(2)).collect(corpus, out);
        assertTrue(Files.exists(out.resolve("shard-00005")));
        FeatureManifest m = new FeatureCollector(new FakeSource(), WRAP, SETTINGS.withDocsPerShard(6).withHiddenDtype(HiddenDtype.F16))
                .collect(corpus, out).manifest();
        assertEquals(2, m.shards().size());
        assertFalse(Files.exists(out.resolve("shard-00002")));
        assertEquals("f16", m.hiddenDtype());
        FeatureBatch b = FeatureDataset.open(out).read(ShardInfo.nameOf(0), 1);
        for (int r = 0; r < b.rows(); r++) {
            int[] ctx = WRAP.wrap(corpus.documents().get(b.doc()[r]).tokens());
            float want = hidden(1, b.position()[r], ctx[b.position()[r]], 3);
            assertEquals(want, b.x()[r * D + 3], Math.abs(want) * 0x1p-11);
        }
    }

    @Test
    void aSampleFractionThatYieldsNothingIsAnError(@TempDir Path dir) throws Exception {
        ShapedCorpus corpus = corpus(dir);
        CollectSettings skipAll = new CollectSettings(0.1, HiddenDtype.F32, 4, 5, 1, 10_000);
        KvgateException e = assertThrows(KvgateException.class,
                () -> new FeatureCollector(new FakeSource(), WRAP, skipAll).collect(corpus, dir.resolve("x")));
        assertTrue(e.getMessage().startsWith("collection produced no tokens"), e.getMessage());
        assertThrows(KvgateException.class, () -> SETTINGS.withSampleFraction(0));
    }

    @Test
    void nonFiniteValuesStopCollectionAtTheirDocument(@TempDir Path dir) throws Exception {
        ShapedCorpus corpus = corpus(dir);
        FakeSource nan = new FakeSource();
        nan.nanTarget = true;
        KvgateException e = assertThrows(KvgateException.class,
                () -> new FeatureCollector(nan, WRAP, SETTINGS).collect(corpus, dir.resolve("nan")));
        assertTrue(e.getMessage().startsWith("document 2 (") && e.getMessage().contains("NaN in the layer 1 KVzip score"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("nan/shard-00000")), "the shard holding it is not finished");
    }
}
