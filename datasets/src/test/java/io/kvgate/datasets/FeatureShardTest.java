package io.kvgate.datasets;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shards written and read back: f32 bit-exact, f16 within f16 rounding; interrupted shards never count. */
class FeatureShardTest {
    static final int D = 48, H = 3;
    static final int[] LAYERS = {0, 2, 5};

    record Expected(List<float[]> x, List<float[]> target, List<Boolean> heldOut, List<int[]> docPos) {}

    /** Writes {@code rows} random rows per layer into shard {@code index}; returns what was written per layer. */
    static Expected[] writeShard(Path dir, int index, ShardLayout layout, int rows, long seed, boolean commit) {
        Random r = new Random(seed);
        Expected[] exp = new Expected[LAYERS.length];
        for (int i = 0; i < exp.length; i++) exp[i] = new Expected(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        try (FeatureShardWriter w = FeatureShardWriter.create(dir, index, layout)) {
            for (int row = 0; row < rows; row++) {
                int pos = 4 + row * 3;
                boolean held = row % 7 == 6;
                for (int li = 0; li < LAYERS.length; li++) {
                    float[] x = new float[D];
                    for (int j = 0; j < D; j++) x[j] = (float) (r.nextGaussian() * 3);
                    x[0] = Float.MIN_VALUE; // extremes survive f32 exactly
                    x[1] = -Float.MAX_VALUE;
                    float[] t = new float[H];
                    for (int h = 0; h < H; h++) t[h] = r.nextFloat();
                    w.write(LAYERS[li], index * 100 + row / 10, pos, held, x, t);
                    exp[li].x().add(x);
                    exp[li].target().add(t);
                    exp[li].heldOut().add(held);
                    exp[li].docPos().add(new int[] {index * 100 + row / 10, pos});
                }
            }
            if (commit) w.commit("key", new int[] {index}, rows * 3L);
        }
        return exp;
    }

    static FeatureManifest manifest(ShardLayout layout, List<ShardInfo> shards) {
        long tokens = shards.stream().mapToLong(ShardInfo::tokens).sum();
        long held = shards.stream().mapToLong(ShardInfo::heldOutTokens).sum();
        return new FeatureManifest(1, FeatureManifest.KVGATE_VERSION, "fp", "qwen3", 6, D, H, 4, LAYERS, tokens, held,
                layout.hiddenDtype().id(), 0.5, 7, "every 7th", 1, "key", Map.of("scorer", "test"), null, shards);
    }

    static List<ShardInfo> readInfos(Path dir, int shards) {
        List<ShardInfo> out = new ArrayList<>();
        for (int i = 0; i < shards; i++) out.add(Json.read(dir.resolve(ShardInfo.nameOf(i)).resolve(ShardInfo.SIDECAR), ShardInfo.class));
        return out;
    }

    @Test
    void float32RoundTripIsBitExact(@TempDir Path dir) {
        ShardLayout layout = new ShardLayout(D, H, LAYERS, HiddenDtype.F32);
        Expected[][] written = {writeShard(dir, 0, layout, 57, 1, true), writeShard(dir, 1, layout, 33, 2, true)};
        Json.write(dir.resolve(FeatureManifest.FILE), manifest(layout, readInfos(dir, 2)));

        FeatureDataset ds = FeatureDataset.open(dir);
        assertEquals(90, ds.manifest().tokens());
        assertEquals(57 / 7 + 33 / 7, ds.manifest().heldOutTokens());
        for (int li = 0; li < LAYERS.length; li++) {
            List<FeatureBatch> batches = new ArrayList<>();
            ds.forEachBatch(LAYERS[li], batches::add);
            assertEquals(2, batches.size());
            for (int s = 0; s < 2; s++) {
                FeatureBatch b = batches.get(s);
                Expected e = written[s][li];
                assertEquals(e.x().size(), b.rows());
                assertEquals(LAYERS[li], b.layer());
                for (int row = 0; row < b.rows(); row++) {
                    for (int j = 0; j < D; j++)
                        assertEquals(Float.floatToRawIntBits(e.x().get(row)[j]), Float.floatToRawIntBits(b.x()[row * D + j]));
                    for (int h = 0; h < H; h++)
                        assertEquals(Float.floatToRawIntBits(e.target().get(row)[h]), Float.floatToRawIntBits(b.target()[row * H + h]));
                    assertEquals(e.heldOut().get(row), b.heldOut()[row]);
                    assertArrayEquals(e.docPos().get(row), new int[] {b.doc()[row], b.position()[row]});
                }
            }
        }
    }

    @Test
    void batchesOfBoundedSizeConcatenateToTheWholeShard(@TempDir Path dir) {
        ShardLayout layout = new ShardLayout(D, H, LAYERS, HiddenDtype.F32);
        writeShard(dir, 0, layout, 57, 1, true);
        writeShard(dir, 1, layout, 30, 2, true);
        Json.write(dir.resolve(FeatureManifest.FILE), manifest(layout, readInfos(dir, 2)));
        FeatureDataset ds = FeatureDataset.open(dir);
        List<FeatureBatch> batches = new ArrayList<>();
        ds.forEachBatch(2, 10, batches::add);
        assertEquals(List.of(10, 10, 10, 10, 10, 7, 10, 10, 10), batches.stream().map(FeatureBatch::rows).toList());
        int offset = 0;
        for (int s = 0; s < 2; s++) {
            FeatureBatch whole = ds.read(ShardInfo.nameOf(s), 2);
            int row = 0;
            while (row < whole.rows()) {
                FeatureBatch b = batches.get(offset++);
                assertEquals(b.x().length, b.rows() * D);
                for (int r = 0; r < b.rows(); r++, row++) {
                    for (int j = 0; j < D; j++) assertEquals(whole.x()[row * D + j], b.x()[r * D + j]);
                    assertEquals(whole.position()[row], b.position()[r]);
                    assertEquals(whole.heldOut()[row], b.heldOut()[r]);
                    assertEquals(whole.target()[row * H + 1], b.target()[r * H + 1]);
                }
            }
        }
        assertEquals(batches.size(), offset);
    }

    @Test
    void float16RoundTripWithinHalfRounding(@TempDir Path dir) throws Exception {
        ShardLayout layout = new ShardLayout(D, H, LAYERS, HiddenDtype.F16);
        Expected[] written = writeShard(dir, 0, layout, 40, 3, true);
        Json.write(dir.resolve(FeatureManifest.FILE), manifest(layout, readInfos(dir, 1)));
        FeatureBatch b = FeatureDataset.open(dir).read(ShardInfo.nameOf(0), LAYERS[1]);
        double worst = 0;
        for (int row = 0; row < b.rows(); row++) {
            for (int j = 2; j < D; j++) { // columns 0/1 hold f32 extremes outside f16 range
                float want = written[1].x().get(row)[j];
                float got = b.x()[row * D + j];
                assertEquals(Half.toFloat(Half.fromFloat(want)), got); // exactly the f16 rounding of the input
                if (Math.abs(want) > 0x1p-14f) worst = Math.max(worst, Math.abs(got - want) / Math.abs(want));
            }
            for (int h = 0; h < H; h++) assertEquals(written[1].target().get(row)[h], b.target()[row * H + h]); // targets stay f32
        }
        assertTrue(worst <= 0x1p-11, "relative error " + worst);
        assertTrue(worst > 0, "f16 storage should round something");
        long f16Bytes = Files.size(dir.resolve("shard-00000/layer-02.parquet"));
        long f32Bytes = sizeAsF32(dir, layout);
        assertTrue(f16Bytes < 0.7 * f32Bytes, "f16 " + f16Bytes + " bytes vs f32 " + f32Bytes);
    }

    /** Size of the same shard written in f32, for the storage comparison. */
    private static long sizeAsF32(Path dir, ShardLayout layout) throws java.io.IOException {
        Path other = dir.resolve("f32");
        writeShard(other, 0, new ShardLayout(layout.hiddenSize(), layout.kvHeads(), layout.layers(), HiddenDtype.F32), 40, 3, true);
        return Files.size(other.resolve("shard-00000/layer-02.parquet"));
    }

    @Test
    void interruptedShardLeavesNoFinishedDirectory(@TempDir Path dir) throws Exception {
        ShardLayout layout = new ShardLayout(D, H, LAYERS, HiddenDtype.F32);
        // An exception in the middle of a shard: the writer is closed without commit.
        assertThrows(IllegalStateException.class, () -> {
            try (FeatureShardWriter w = FeatureShardWriter.create(dir, 0, layout)) {
                w.write(0, 0, 0, false, new float[D], new float[H]);
                throw new IllegalStateException("killed mid-shard");
            }
        });
        assertFalse(Files.exists(dir.resolve("shard-00000")));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count(), "abandoned temp directory removed");
        }
        // A crash (no close at all) leaves a temp directory: readers skip it, cleanup removes it.
        Path leftover = dir.resolve("shard-00001.tmp-999999999");
        Files.createDirectories(leftover);
        Files.writeString(leftover.resolve("layer-00.parquet"), "half a file");
        writeShard(dir, 0, layout, 5, 4, true);
        Json.write(dir.resolve(FeatureManifest.FILE), manifest(layout, readInfos(dir, 1)));
        assertEquals(List.of("shard-00000"), FeatureDataset.open(dir).shardNames());
        FeatureDataset.removeTempLeftovers(dir);
        assertFalse(Files.exists(leftover));
    }

    @Test
    void mismatchedFooterAndMissingShardAreClearErrors(@TempDir Path dir) {
        ShardLayout f16 = new ShardLayout(D, H, LAYERS, HiddenDtype.F16);
        writeShard(dir, 0, f16, 3, 5, true);
        ShardLayout f32 = new ShardLayout(D, H, LAYERS, HiddenDtype.F32);
        Json.write(dir.resolve(FeatureManifest.FILE), manifest(f32, readInfos(dir, 1)));
        KvgateException e = assertThrows(KvgateException.class, () -> FeatureDataset.open(dir).read("shard-00000", 0));
        assertTrue(e.getMessage().contains("hidden_dtype is f16"), e.getMessage());
        assertThrows(KvgateException.class, () -> FeatureDataset.open(dir).read("shard-00000", 3));

        Path empty = dir.resolve("none");
        KvgateException missing = assertThrows(KvgateException.class, () -> FeatureDataset.open(empty));
        assertTrue(missing.getMessage().contains("manifest.json"), missing.getMessage());
    }
}
