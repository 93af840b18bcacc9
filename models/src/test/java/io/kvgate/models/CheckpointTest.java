package io.kvgate.models;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.models.util.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading layouts (sharded, multimodal prefixes, untied head) and every kind of bad checkpoint. */
class CheckpointTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Copies every tensor of {@code src} (raw bytes, original dtype) under a new name; null drops it. */
    static SafetensorsWriter copyTensors(Path src, Function<String, String> rename, SafetensorsWriter w) {
        try (SafetensorsFile f = SafetensorsFile.open(src)) {
            for (SafetensorsFile.TensorInfo t : f.tensors().values()) {
                String name = rename.apply(t.name());
                if (name == null) continue;
                ByteBuffer b = f.map(t, 0, t.byteLength());
                byte[] bytes = new byte[(int) t.byteLength()];
                b.get(bytes);
                w.putRaw(name, t.dtype().name(), t.shape(), bytes);
            }
        }
        return w;
    }

    static void copy(Path from, Path to, String... names) throws IOException {
        Files.createDirectories(to);
        for (String n : names) Files.copy(from.resolve(n), to.resolve(n));
    }

    @Test
    void shardedCheckpointLoadsLikeTheSingleFile() throws IOException {
        Path src = Fixtures.parity("qwen3-tiny-a"), dir = tmp.resolve("sharded");
        copy(src, dir, "config.json", "generation_config.json", "reference.safetensors");
        List<String> names;
        try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            names = new ArrayList<>(f.tensors().keySet());
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) weightMap.put(names.get(i), i % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        for (String shard : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"))
            copyTensors(src.resolve("model.safetensors"), n -> shard.equals(weightMap.get(n)) ? n : null, new SafetensorsWriter()).write(dir.resolve(shard));
        JSON.writeValue(dir.resolve("model.safetensors.index.json").toFile(), Map.of("metadata", Map.of(), "weight_map", weightMap));

        ParityTest.fullForward(dir);
        try (Checkpoint a = Checkpoint.open(src); Checkpoint b = Checkpoint.open(dir)) {
            assertEquals(a.fingerprint(), b.fingerprint(), "sharding must not change the fingerprint");
        }
        // a shard listed in the index but absent
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        expectError(dir, "missing shard", "model-00002-of-00002.safetensors");
    }

    /** Multimodal gemma3 checkpoints: nested text_config and the text tower under either prefix layout. */
    @Test
    void multimodalGemma3TextTowerUnderBothPrefixes() throws IOException {
        Path src = Fixtures.parity("gemma3-tiny-a");
        ObjectNode text = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        for (String prefix : List.of("language_model.model.", "model.language_model.")) {
            Path dir = tmp.resolve(prefix.replace('.', '_'));
            copy(src, dir, "reference.safetensors");
            ObjectNode top = JSON.createObjectNode();
            top.put("model_type", "gemma3");
            top.putArray("architectures").add("Gemma3ForConditionalGeneration");
            top.set("text_config", text);
            top.putObject("vision_config").put("model_type", "siglip_vision_model");
            JSON.writeValue(dir.resolve("config.json").toFile(), top);
            SafetensorsWriter w = copyTensors(src.resolve("model.safetensors"), n -> prefix + n.substring("model.".length()), new SafetensorsWriter());
            w.putF32("vision_tower.vision_model.embeddings.patch_embedding.weight", new long[] {2, 3}, new float[6]);
            w.putF32("multi_modal_projector.mm_input_projection_weight", new long[] {3}, new float[3]);
            w.write(dir.resolve("model.safetensors"));

            ParityTest.fullForward(dir);
            try (Checkpoint a = Checkpoint.open(src); Checkpoint b = Checkpoint.open(dir)) {
                assertEquals(a.fingerprint(), b.fingerprint(), "the prefix layout must not change the fingerprint");
            }
        }
    }

    /** tie_word_embeddings=false reads lm_head.weight: with lm_head = 2 × embed_tokens the logits double. */
    @Test
    void untiedLmHeadIsUsed() throws IOException {
        Path src = Fixtures.parity("qwen2-tiny-a"), dir = tmp.resolve("untied");
        copy(src, dir, "generation_config.json");
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        cfg.put("tie_word_embeddings", false);
        JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
        float[] embed;
        long[] shape;
        try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            embed = f.readFloats("model.embed_tokens.weight");
            shape = f.info("model.embed_tokens.weight").shape();
        }
        float[] doubled = new float[embed.length];
        for (int i = 0; i < embed.length; i++) doubled[i] = 2 * embed[i];
        copyTensors(src.resolve("model.safetensors"), n -> n, new SafetensorsWriter()).putF32("lm_head.weight", shape, doubled)
                .write(dir.resolve("model.safetensors"));
        try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(src.resolve("reference.safetensors"));
             Model model = Model.load(ck); KvCache cache = model.newCache(); NDManager scope = model.manager().newSubManager()) {
            int[] ids = Fixtures.toInts(ref.readLongs("input_ids"));
            float[] logits = model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL)).logits().toFloatArray();
            float[] want = ref.readFloats("logits");
            for (int i = 0; i < want.length; i++) want[i] *= 2;
            double e = Fixtures.relErr(logits, want);
            assertTrue(e < 1e-4, "untied logits rel err " + e);
            try (Checkpoint tied = Checkpoint.open(src)) {
                assertNotEquals(tied.fingerprint(), ck.fingerprint());
            }
        }
        // untied but lm_head.weight absent
        copyTensors(src.resolve("model.safetensors"), n -> n, new SafetensorsWriter()).write(dir.resolve("model.safetensors"));
        expectError(dir, "missing tensor 'lm_head.weight'");
    }

    /** F16 and F32 weights on disk load like the bf16 originals (bf16 values are exact in both). */
    @Test
    void f16AndF32WeightsOnDisk() throws IOException {
        Path src = Fixtures.parity("qwen3-tiny-a");
        for (String dtype : List.of("F16", "F32")) {
            Path dir = tmp.resolve(dtype);
            copy(src, dir, "config.json", "reference.safetensors");
            SafetensorsWriter w = new SafetensorsWriter();
            try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
                for (SafetensorsFile.TensorInfo t : f.tensors().values()) {
                    float[] v = f.readFloats(t.name());
                    if (dtype.equals("F32")) w.putF32(t.name(), t.shape(), v);
                    else {
                        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                        for (float x : v) b.putShort(toHalf(x));
                        w.putRaw(t.name(), "F16", t.shape(), b.array());
                    }
                }
            }
            w.write(dir.resolve("model.safetensors"));
            ParityTest.fullForward(dir);
        }
    }

    /** float → IEEE half, round to nearest even (test helper; values here are normal halves or tiny). */
    static short toHalf(float x) {
        int bits = Float.floatToIntBits(x), sign = (bits >>> 16) & 0x8000;
        float a = Math.abs(x);
        if (a < 0x1p-14f) return (short) (sign | (int) Math.rint(a * 0x1p24)); // subnormal
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        int r = (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (r & 1) == 1)) r++;
        return (short) (sign | r);
    }

    @Test
    void fingerprintIsStableAndDistinguishesModels() {
        try (Checkpoint a = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Checkpoint a2 = Checkpoint.open(Fixtures.parity("qwen3-tiny-a"));
             Checkpoint b = Checkpoint.open(Fixtures.parity("qwen2-tiny-a"))) {
            assertEquals(a.fingerprint(), a2.fingerprint());
            assertTrue(a.fingerprint().matches("[0-9a-f]{32}"), a.fingerprint());
            assertNotEquals(a.fingerprint(), b.fingerprint());
        }
    }

    // ---- bad input: one clear line naming the file/tensor and what was expected ------------------------

    @Test
    void missingPiecesAreClearErrors() throws IOException {
        expectError(tmp.resolve("absent"), "does not exist");
        Path noConfig = tmp.resolve("no-config");
        Files.createDirectories(noConfig);
        expectError(noConfig, "missing", "config.json");
        Path noWeights = tmp.resolve("no-weights");
        copy(Fixtures.parity("qwen3-tiny-a"), noWeights, "config.json");
        expectError(noWeights, "missing weights", "model.safetensors");
        Path unknown = tmp.resolve("unknown");
        copy(Fixtures.parity("qwen3-tiny-a"), unknown, "model.safetensors");
        Files.writeString(unknown.resolve("config.json"), "{\"model_type\": \"mistral\"}");
        expectError(unknown, "unsupported model_type 'mistral'", "qwen3");
    }

    @Test
    void truncatedFileIsDetected() throws IOException {
        Path dir = tmp.resolve("truncated");
        copy(Fixtures.parity("qwen3-tiny-a"), dir, "config.json", "model.safetensors");
        byte[] all = Files.readAllBytes(dir.resolve("model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(all, all.length - 1000));
        expectError(dir, "model.safetensors", "truncated");
        Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(all, 100));
        expectError(dir, "model.safetensors", "truncated");
        Files.write(dir.resolve("model.safetensors"), new byte[3]);
        expectError(dir, "model.safetensors", "shorter than the 8-byte header");
    }

    @Test
    void lyingHeadersAreDetected() throws IOException {
        Path dir = tmp.resolve("lying");
        copy(Fixtures.parity("qwen3-tiny-a"), dir, "config.json");
        Path f = dir.resolve("model.safetensors");
        writeRaw(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,4000]}}", 32);
        expectError(dir, "tensor 'b'", "data section has only 32 bytes");
        writeRaw(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
        expectError(dir, "overlaps");
        writeRaw(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,16]}}", 16);
        expectError(dir, "tensor 'a' has shape [3,4] x F32 = 48 bytes but its data_offsets span 16 bytes");
        writeRaw(f, "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
        expectError(dir, "dtype 'F64'");
        writeRaw(f, "{not json", 0);
        expectError(dir, "not valid JSON");
        writeRaw(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16);
        expectError(dir, "cover 8 bytes", "has 16 bytes");
    }

    @Test
    void missingTensorAndShapeMismatchNameTheTensor() throws IOException {
        Path src = Fixtures.parity("qwen3-tiny-a");
        Path missing = tmp.resolve("missing-tensor");
        copy(src, missing, "config.json");
        copyTensors(src.resolve("model.safetensors"), n -> n.equals("model.layers.1.mlp.up_proj.weight") ? null : n, new SafetensorsWriter())
                .write(missing.resolve("model.safetensors"));
        expectError(missing, "missing tensor 'layers.1.mlp.up_proj.weight'");

        Path mismatch = tmp.resolve("mismatch");
        copy(src, mismatch, "model.safetensors");
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        cfg.put("intermediate_size", 128);
        JSON.writeValue(mismatch.resolve("config.json").toFile(), cfg);
        expectError(mismatch, "model.layers.0.mlp.gate_proj.weight", "[160, 64]", "implies [128, 64]");
    }

    static void writeRaw(Path file, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(file, b.array());
    }

    static void expectError(Path dir, String... fragments) {
        KvgateException e = assertThrows(KvgateException.class, () -> {
            try (Checkpoint c = Checkpoint.open(dir)) {
                c.fingerprint();
            }
        });
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
