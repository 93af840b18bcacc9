package io.kvgate.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A checkpoint directory: config.json, model.safetensors or sharded model-0000x-of-0000y.safetensors
 * (+ model.safetensors.index.json), optional generation_config.json, tokenizer.json, tokenizer_config.json.
 * Opening it validates the config and the safetensors headers; tensors are memory-mapped, not read.
 *
 * <p>Tensor names are resolved relative to the text model, whatever the prefix on disk ({@code model.},
 * multimodal Gemma3's {@code language_model.model.} or {@code model.language_model.}): see {@link #tensor}.
 */
public final class Checkpoint implements AutoCloseable {
    /** Where one tensor lives. */
    public record Tensor(SafetensorsFile file, SafetensorsFile.TensorInfo info) {}

    private final Path dir;
    private final ModelConfig config;
    private final List<SafetensorsFile> files;
    private final Map<String, Tensor> byCanonicalName;
    private String fingerprint;

    private Checkpoint(Path dir, ModelConfig config, List<SafetensorsFile> files, Map<String, Tensor> byCanonicalName) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.byCanonicalName = byCanonicalName;
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new KvgateException("model directory " + dir + " does not exist or is not a directory");
        ModelConfig config = ModelConfig.parse(dir.resolve("config.json"));
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            Map<String, Tensor> all = openTensors(dir, files);
            Map<String, Tensor> canonical = canonicalise(dir, all);
            validate(dir, config, canonical);
            return new Checkpoint(dir, config, files, canonical);
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** Every tensor of the single file or of the shards listed by the index, by its name on disk. */
    private static Map<String, Tensor> openTensors(Path dir, List<SafetensorsFile> files) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, Tensor> all = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode map;
            try {
                map = new ObjectMapper().readTree(Files.readString(index)).path("weight_map");
            } catch (IOException e) {
                throw new KvgateException(index + ": not valid JSON (" + e.getMessage().split("\n")[0] + ")");
            }
            if (!map.isObject() || map.isEmpty()) throw new KvgateException(index + ": expected a non-empty 'weight_map' object");
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shardName = e.getValue().asText();
                if (shardName.contains("/") || shardName.contains("\\"))
                    throw new KvgateException(index + ": shard name '" + shardName + "' must be a file in " + dir);
                SafetensorsFile f = shards.get(shardName);
                if (f == null) {
                    Path p = dir.resolve(shardName);
                    if (!Files.isRegularFile(p))
                        throw new KvgateException("missing shard " + p + " (listed for tensor '" + e.getKey() + "' in " + index.getFileName() + ")");
                    f = SafetensorsFile.open(p);
                    files.add(f);
                    shards.put(shardName, f);
                }
                SafetensorsFile.TensorInfo info = f.tensors().get(e.getKey());
                if (info == null)
                    throw new KvgateException(f.path() + ": index lists tensor '" + e.getKey() + "' in this shard but its header lacks it");
                all.put(e.getKey(), new Tensor(f, info));
            }
        } else if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            files.add(f);
            f.tensors().forEach((name, info) -> all.put(name, new Tensor(f, info)));
        } else {
            throw new KvgateException("missing weights in " + dir + ": expected model.safetensors or model.safetensors.index.json with its shards");
        }
        return all;
    }

    /** Strips the text model's prefix, found from where {@code embed_tokens.weight} lives. */
    private static Map<String, Tensor> canonicalise(Path dir, Map<String, Tensor> all) {
        String prefix = null;
        for (String name : all.keySet()) {
            if (name.endsWith("embed_tokens.weight") && !name.contains("vision")) {
                String p = name.substring(0, name.length() - "embed_tokens.weight".length());
                if (prefix == null || p.length() < prefix.length()) prefix = p;
            }
        }
        if (prefix == null) throw new KvgateException("missing tensor 'model.embed_tokens.weight' in " + dir + " (no *embed_tokens.weight found)");
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : all.entrySet()) {
            String n = e.getKey();
            if (n.startsWith(prefix)) out.put(n.substring(prefix.length()), e.getValue());
            else if (n.endsWith("lm_head.weight") && !n.contains("vision")) out.put("lm_head.weight", e.getValue());
        }
        return out;
    }

    private static void validate(Path dir, ModelConfig config, Map<String, Tensor> tensors) {
        for (Map.Entry<String, long[]> e : WeightLayout.expected(config).entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null)
                throw new KvgateException("missing tensor '" + e.getKey() + "' in " + dir + " (required by config.json: "
                        + config.family().name().toLowerCase() + ", " + config.numLayers() + " layers)");
            if (!Arrays.equals(t.info().shape(), e.getValue()))
                throw new KvgateException(t.file().path() + ": tensor '" + t.info().name() + "' has shape " + Arrays.toString(t.info().shape())
                        + " but config.json implies " + Arrays.toString(e.getValue()));
        }
    }

    public Path dir() { return dir; }

    public ModelConfig config() { return config; }

    /** A tensor by its name relative to the text model ({@code layers.0.mlp.up_proj.weight}); KvgateException if absent. */
    public Tensor tensor(String canonicalName) {
        Tensor t = byCanonicalName.get(canonicalName);
        if (t == null) throw new KvgateException("missing tensor '" + canonicalName + "' in " + dir);
        return t;
    }

    /** True if the checkpoint holds this tensor (canonical name). */
    public boolean has(String canonicalName) {
        return byCanonicalName.containsKey(canonicalName);
    }

    /**
     * Stable identity of the weights and architecture (hex string): a hash of config.json's normalised
     * numbers and the safetensors headers (names, dtypes, shapes, data hashes of a few tensors).
     * Gate artifacts and feature shards record it and refuse another model's. The same weights give the
     * same fingerprint whatever their name prefix, sharding or config key style.
     */
    public synchronized String fingerprint() {
        if (fingerprint != null) return fingerprint;
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            String arch = config.canonical().replaceAll(" eos=.*$", "");
            md.update(arch.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            Map<String, long[]> expected = WeightLayout.expected(config);
            for (String name : new TreeMap<>(expected).keySet()) {
                SafetensorsFile.TensorInfo i = byCanonicalName.get(name).info();
                md.update((name + ":" + i.dtype() + ":" + Arrays.toString(i.shape()) + ";").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            // Content: the final norm, layer 0's norms, and the first 64 KiB of the embedding.
            List<String> sampled = new ArrayList<>(List.of("norm.weight", WeightLayout.layer(0, "input_layernorm.weight"),
                    WeightLayout.layer(0, "post_attention_layernorm.weight"), "embed_tokens.weight"));
            for (String name : sampled) {
                Tensor t = byCanonicalName.get(name);
                long len = Math.min(t.info().byteLength(), 64 * 1024);
                ByteBuffer b = t.file().map(t.info(), 0, len);
                md.update(b);
            }
            fingerprint = HexFormat.of().formatHex(md.digest(), 0, 16);
            return fingerprint;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** tokenizer.json, if present. */
    public Optional<Path> tokenizerFile() {
        Path p = dir.resolve("tokenizer.json");
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    /** tokenizer_config.json, if present. */
    public Optional<Path> tokenizerConfigFile() {
        Path p = dir.resolve("tokenizer_config.json");
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    /** generation_config.json, if present. */
    public Optional<Path> generationConfigFile() {
        Path p = dir.resolve("generation_config.json");
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
