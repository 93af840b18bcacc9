package io.kvgate.cli;

import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.FeatureShardWriter;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.ShardInfo;
import io.kvgate.datasets.ShardLayout;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.kvgate.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvgate train} end to end on Parquet feature shards whose targets come from a logistic teacher. */
class TrainCommandTest {
    static final int D = 12, H = 2;
    static final int[] LAYERS = {0, 2};

    @TempDir
    Path tmp;

    /** Writes a feature directory of {@code rows} rows per layer in 2 shards; {@code poison} puts a NaN into one row. */
    static Path features(Path dir, int rows, boolean poison) {
        ShardLayout layout = new ShardLayout(D, H, LAYERS, HiddenDtype.F32);
        Random r = new Random(5);
        float[][] w = new float[LAYERS.length][H * D];
        for (float[] a : w) for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 0.6);
        List<ShardInfo> shards = new ArrayList<>();
        for (int shard = 0; shard < 2; shard++) {
            try (FeatureShardWriter out = FeatureShardWriter.create(dir, shard, layout)) {
                for (int row = 0; row < rows / 2; row++) {
                    for (int li = 0; li < LAYERS.length; li++) {
                        float[] x = new float[D], t = new float[H];
                        for (int i = 0; i < D; i++) x[i] = (float) (r.nextGaussian() + 0.3);
                        for (int h = 0; h < H; h++) {
                            double z = -2.5;
                            for (int i = 0; i < D; i++) z += w[li][h * D + i] * x[i];
                            t[h] = (float) (1 / (1 + Math.exp(-z)));
                        }
                        if (poison && shard == 1 && row == 7 && li == 1) x[3] = Float.NaN;
                        out.write(LAYERS[li], shard, row, row % 10 == 0, x, t);
                    }
                }
                shards.add(out.commit("key", new int[] {shard}, rows / 2));
            }
        }
        long tokens = shards.stream().mapToLong(ShardInfo::tokens).sum(), held = shards.stream().mapToLong(ShardInfo::heldOutTokens).sum();
        new FeatureManifest(1, FeatureManifest.KVGATE_VERSION, "fp-e2e", "qwen3", 3, D, H, 2, LAYERS, tokens, held,
                HiddenDtype.F32.id(), 1.0, 10, "every 10th", 1, "key", Map.of(), null, shards).writeTo(dir);
        return dir;
    }

    @Test
    void fitsBothFamiliesExportsArtifactsAndIsDeterministic() throws Exception {
        Path feats = features(tmp.resolve("features"), 1200, false);
        CliRun r = run("--quiet", "train", "--features", feats.toString(), "--steps", "60", "--batch", "64", "--out", tmp.resolve("a").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| linear | all"), r.out());
        try (GateArtifact lin = GateArtifact.load(tmp.resolve("a/linear")); GateArtifact sink = GateArtifact.load(tmp.resolve("a/sink"))) {
            lin.requireModel("fp-e2e");
            assertEquals(GateType.SINK, sink.manifest().gateType());
            assertArrayEquals(LAYERS, sink.manifest().gatedLayers());
            assertTrue(lin.manifest().overall().agreement() >= 0.98, "linear agreement " + lin.manifest().overall().agreement());
            assertTrue(sink.manifest().overall().agreement() >= 0.90, "sink agreement " + sink.manifest().overall().agreement());
            assertEquals(2 * 2 * 120, lin.manifest().overall().pairs()); // held-out rows × heads × layers
        }
        assertEquals(0, run("--quiet", "train", "--features", feats.toString(), "--steps", "60", "--batch", "64", "--threads", "1",
                "--out", tmp.resolve("b").toString()).code());
        for (String type : new String[] {"sink", "linear"})
            assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(type).resolve("gates.safetensors")),
                    Files.readAllBytes(tmp.resolve("b").resolve(type).resolve("gates.safetensors")), type);
        CliRun i = run("--quiet", "inspect", tmp.resolve("a/sink").toString());
        assertEquals(0, i.code(), i.err());
        assertTrue(i.out().contains("fp-e2e") && i.out().contains("| all"), i.out());
    }

    @Test
    void badShardsAreOneClearLineAndNothingIsWritten() {
        Path out = tmp.resolve("out");
        CliRun r = run("--quiet", "train", "--features", features(tmp.resolve("nan"), 400, true).toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("layer 2, row 207") && r.err().contains("NaN"), r.err());
        r = run("--quiet", "train", "--features", features(tmp.resolve("few"), 12, false).toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("training rows for hidden size 12"), r.err());
        // shards of another model than --model
        r = run("--quiet", "train", "--features", features(tmp.resolve("other"), 400, false).toString(), "--model", TINY, "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("collected from model fp-e2e, not from " + TINY), r.err());
        assertTrue(Files.notExists(out));
    }

    static final String TINY = "../checkpoints/tiny-retrieval-qwen3";

    @Test
    void inspectRefusesAnArtifactOfAnotherModel() {
        Path feats = features(tmp.resolve("features"), 400, false);
        assertEquals(0, run("--quiet", "train", "--features", feats.toString(), "--gate", "linear", "--out", tmp.resolve("g").toString()).code());
        CliRun r = run("--quiet", "inspect", tmp.resolve("g/linear").toString(), "--model", TINY);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("fitted for model fp-e2e") && r.err().contains("not for this model"), r.err());
    }
}
