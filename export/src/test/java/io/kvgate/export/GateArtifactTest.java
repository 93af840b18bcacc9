package io.kvgate.export;

import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateSet;
import io.kvgate.gates.GateType;
import io.kvgate.gates.LinearGate;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GateArtifactTest {
    private static final SinkGate.Dims DIMS = SinkGate.Dims.standard(24, 2, 3);
    private static final String FP = "fp-abc123";

    @TempDir
    Path tmp;

    static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static GateArtifact sinkArtifact() {
        Random r = new Random(1);
        List<SinkGate> gates = new java.util.ArrayList<>();
        for (int layer : new int[] {0, 2}) {
            SinkGate.Params p = SinkGate.Params.zeros(DIMS);
            for (float[] a : p.arrays()) System.arraycopy(random(r, a.length), 0, a, 0, a.length);
            gates.add(new SinkGate(layer, p));
        }
        return new GateArtifact(manifest(GateType.SINK, new int[] {0, 2}, Map.of("dim", 16, "sinks", 16)), new GateSet(GateType.SINK, gates));
    }

    static ArtifactManifest manifest(GateType type, int[] layers, Map<String, Object> hyper) {
        Map<Integer, GateMetrics> per = new TreeMap<>();
        for (int l : layers) per.put(l, new GateMetrics(100, 0.01 * (l + 1), 0.2, 0.95, 0.8, 0.4, 0.6));
        return new ArtifactManifest(GateArtifact.FORMAT_VERSION, GateArtifact.KVGATE_VERSION, type, hyper, layers,
                DIMS.hidden(), DIMS.kvHeads(), DIMS.group(), FP, "qwen3", new CorpusSummary("features/", 1000, 10),
                per, new GateMetrics(200, 0.015, 0.2, 0.95, 0.8, 0.4, 0.6));
    }

    @Test
    void sinkArtifactRoundTripsTensorsManifestAndScores() throws IOException {
        GateArtifact a = sinkArtifact();
        Path dir = tmp.resolve("gates/sink");
        a.write(dir);
        assertTrue(Files.isRegularFile(dir.resolve("gates.safetensors")));
        try (GateArtifact b = GateArtifact.load(dir)) {
            assertEquals(GateType.SINK, b.manifest().gateType());
            assertArrayEquals(new int[] {0, 2}, b.manifest().gatedLayers());
            assertEquals(0.03, b.manifest().layerMetrics().get(2).mse(), 1e-12);
            assertEquals(0.6, b.manifest().overall().constantAgreement(), 1e-12);
            assertEquals(FP, b.manifest().modelFingerprint());
            float[] x = random(new Random(5), 7 * DIMS.hidden());
            for (int l : new int[] {0, 2}) assertArrayEquals(a.gates().gate(l).scoreRows(x, 7), b.gates().gate(l).scoreRows(x, 7));
            assertArrayEquals(((SinkGate) a.gates().gate(2)).params().kBase, ((SinkGate) b.gates().gate(2)).params().kBase);
        }
        // no temp leftovers beside the artifact
        assertEquals(List.of("sink"), list(dir.getParent()));
    }

    @Test
    void linearArtifactRoundTrips() {
        Random r = new Random(2);
        LinearGate g = new LinearGate(1, DIMS.hidden(), DIMS.kvHeads(), random(r, DIMS.hidden() * DIMS.kvHeads()), random(r, DIMS.kvHeads()));
        new GateArtifact(manifest(GateType.LINEAR, new int[] {1}, Map.of("epsilon", 1e-4)), new GateSet(GateType.LINEAR, List.of(g))).write(tmp.resolve("lin"));
        LinearGate back = (LinearGate) GateArtifact.load(tmp.resolve("lin")).gates().gate(1);
        assertArrayEquals(g.weight(), back.weight());
        assertArrayEquals(g.bias(), back.bias());
    }

    @Test
    void manifestsWithoutTheConstantGateAgreementStillLoad() throws IOException {
        Path dir = tmp.resolve("old");
        sinkArtifact().write(dir);
        Path mf = dir.resolve("manifest.json");
        String json = Files.readString(mf, StandardCharsets.UTF_8);
        String old = json.replaceAll(",\\s*\"constant_gate_agreement\"\\s*:\\s*[0-9.]+", "");
        assertTrue(old.length() < json.length() && !old.contains("constant_gate_agreement"), "the key was written and removed");
        Files.writeString(mf, old, StandardCharsets.UTF_8);
        GateMetrics m = GateArtifact.readManifest(dir).overall();
        assertTrue(Double.isNaN(m.constantAgreement()));
        assertEquals(0.95, m.agreement(), 1e-12);
    }

    @Test
    void refusesAnotherModelsArtifact() {
        sinkArtifact().write(tmp.resolve("a"));
        GateArtifact a = GateArtifact.load(tmp.resolve("a"));
        assertEquals(a, a.requireModel(FP));
        KvgateException e = assertThrows(KvgateException.class, () -> a.requireModel("other-fp"));
        assertTrue(e.getMessage().contains("fitted for model " + FP) && e.getMessage().contains("other-fp"), e.getMessage());
    }

    @Test
    void corruptArtifactsAreClearErrors() throws IOException {
        Path dir = tmp.resolve("a");
        sinkArtifact().write(dir);
        Path st = dir.resolve("gates.safetensors"), mf = dir.resolve("manifest.json");
        byte[] tensors = Files.readAllBytes(st);
        String manifest = Files.readString(mf);

        Files.write(st, java.util.Arrays.copyOf(tensors, tensors.length - 100));
        assertError(dir, "truncated");
        Files.write(st, new byte[] {1, 2, 3});
        assertError(dir, "shorter than");
        Files.write(st, tensors);

        // a non-finite parameter (same layout, one value replaced by NaN)
        java.nio.ByteBuffer nan = java.nio.ByteBuffer.wrap(tensors.clone()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        nan.putFloat(nan.capacity() - 4, Float.NaN);
        Files.write(st, nan.array());
        assertError(dir, "is NaN");
        Files.write(st, tensors);

        Files.writeString(mf, manifest.substring(0, manifest.length() / 2));
        assertError(dir, "not valid JSON");
        Files.writeString(mf, manifest.replace("\"kv_heads\" : 2", "\"kv_heads\" : 3"));
        assertError(dir, "has shape");
        Files.writeString(mf, manifest);
        // a renamed tensor (same header length): the layer misses one and the file has one nobody claims
        Files.write(st, new String(tensors, StandardCharsets.ISO_8859_1).replace("layers.2.q_proj.weight", "layers.2.q_proj.weighx")
                .getBytes(StandardCharsets.ISO_8859_1));
        assertError(dir, "layer 2: missing tensor 'q_proj.weight'");
        Files.write(st, tensors);
        Files.writeString(mf, manifest.replace("\"gated_layers\" : [ 0, 2 ]", "\"gated_layers\" : [ 0 ]"));
        assertError(dir, "does not list");
        Files.writeString(mf, manifest.replace("\"format_version\" : 1", "\"format_version\" : 9"));
        assertError(dir, "format_version 9");
        Files.writeString(mf, manifest.replace("\"hidden_size\"", "\"hidden\""));
        assertError(dir, "'hidden_size' must be an integer");
        Files.delete(mf);
        assertError(dir, "manifest.json: missing");
        assertError(tmp.resolve("nowhere"), "does not exist");
    }

    @Test
    void failedWriteLeavesThePreviousArtifact() throws IOException {
        Path dir = tmp.resolve("a");
        sinkArtifact().write(dir);
        byte[] before = Files.readAllBytes(dir.resolve("manifest.json"));
        Map<String, Object> broken = new java.util.HashMap<>();
        broken.put("self", new Object()); // Jackson cannot serialise this: the write fails before anything moves
        GateArtifact bad = new GateArtifact(manifest(GateType.SINK, new int[] {0, 2}, broken), sinkArtifact().gates());
        assertThrows(RuntimeException.class, () -> bad.write(dir));
        assertArrayEquals(before, Files.readAllBytes(dir.resolve("manifest.json")));
        assertFalse(list(tmp).stream().anyMatch(n -> n.contains(".tmp-")), list(tmp).toString());
    }

    private static void assertError(Path dir, String fragment) {
        KvgateException e = assertThrows(KvgateException.class, () -> GateArtifact.load(dir));
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
    }

    private static List<String> list(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

}
