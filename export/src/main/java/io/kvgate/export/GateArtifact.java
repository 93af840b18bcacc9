package io.kvgate.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.gates.Gate;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateSet;
import io.kvgate.gates.GateTensor;
import io.kvgate.gates.GateType;
import io.kvgate.gates.LinearGate;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import io.kvgate.models.util.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A gate artifact directory: {@code gates.safetensors} (float32; each gated layer's tensors under
 * {@code layers.{layer}.<official name>}, e.g. {@code layers.3.q_proj.weight}) and {@code manifest.json}
 * (see {@link ArtifactManifest}; keys in snake_case). The format is documented in README.md (section "Gates, fitting and the artifact format") so that
 * Python can read it with {@code safetensors} and {@code json} alone.
 */
public final class GateArtifact implements AutoCloseable {
    public static final String FORMAT = "kvgate-gates";
    public static final int FORMAT_VERSION = 1;
    public static final String KVGATE_VERSION = io.kvgate.models.KvgateVersion.VERSION;
    public static final String MANIFEST = "manifest.json";
    public static final String TENSORS = "gates.safetensors";

    private final ArtifactManifest manifest;
    private final GateSet gates;

    /** Pairs gates with their manifest; the manifest must describe these gates. */
    public GateArtifact(ArtifactManifest manifest, GateSet gates) {
        if (manifest.gateType() != gates.type()) throw new IllegalArgumentException("manifest says " + manifest.gateType() + ", gates are " + gates.type());
        if (!Arrays.equals(manifest.gatedLayers(), gates.layers()))
            throw new IllegalArgumentException("manifest layers " + Arrays.toString(manifest.gatedLayers()) + " vs gates " + Arrays.toString(gates.layers()));
        this.manifest = manifest;
        this.gates = gates;
    }

    public ArtifactManifest manifest() {
        return manifest;
    }

    public GateSet gates() {
        return gates;
    }

    /** Tensor name in gates.safetensors of a gate's parameter. */
    public static String tensorName(int layer, String name) {
        return "layers." + layer + "." + name;
    }

    /** Writes the directory atomically: a reader sees either the old artifact or the complete new one. */
    public void write(Path dir) {
        SafetensorsWriter st = new SafetensorsWriter().metadata("format", FORMAT).metadata("gate_type", gates.type().id());
        for (Gate g : gates.byLayer().values())
            for (Map.Entry<String, GateTensor> e : g.tensors().entrySet())
                st.putF32(tensorName(g.layer(), e.getKey()), e.getValue().shape(), e.getValue().data());
        byte[] json = manifestJson(manifest);
        AtomicFiles.writeDirectory(dir, tmp -> {
            try (var out = Files.newOutputStream(tmp.resolve(TENSORS))) {
                st.writeTo(out);
            }
            Files.write(tmp.resolve(MANIFEST), json);
        });
    }

    /** Refuses an artifact fitted for another model. */
    public GateArtifact requireModel(String fingerprint) {
        if (!manifest.modelFingerprint().equals(fingerprint))
            throw new KvgateException("gate artifact was fitted for model " + manifest.modelFingerprint() + " (" + manifest.modelType()
                    + "), not for this model (" + fingerprint + "); fit gates for this model with 'kvgate train'");
        return this;
    }

    /** Loads and validates an artifact directory; any inconsistency is a {@link KvgateException}. */
    public static GateArtifact load(Path dir) {
        if (!Files.isDirectory(dir)) throw new KvgateException(dir + ": not a gate artifact directory (it does not exist)");
        ArtifactManifest m = readManifest(dir);
        Path tf = dir.resolve(TENSORS);
        if (!Files.isRegularFile(tf)) throw new KvgateException(tf + ": missing (a gate artifact holds " + TENSORS + " and " + MANIFEST + ")");
        Map<String, GateTensor> all = SafetensorsReader.readF32(tf);
        List<Gate> list = new ArrayList<>();
        for (int layer : m.gatedLayers()) {
            String prefix = tensorName(layer, "");
            Map<String, GateTensor> mine = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, GateTensor>> it = all.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, GateTensor> e = it.next();
                if (e.getKey().startsWith(prefix)) {
                    mine.put(e.getKey().substring(prefix.length()), e.getValue());
                    it.remove();
                }
            }
            String where = tf + " layer " + layer;
            list.add(switch (m.gateType()) {
                case SINK -> SinkGate.fromTensors(layer, sinkDims(m), mine, where);
                case LINEAR -> LinearGate.fromTensors(layer, m.hiddenSize(), m.kvHeads(), mine, where);
            });
            int expected = list.get(list.size() - 1).tensors().size();
            if (mine.size() != expected) throw new KvgateException(where + ": unexpected tensors " + mine.keySet());
        }
        if (!all.isEmpty()) throw new KvgateException(tf + ": tensors for layers the manifest does not list: " + all.keySet());
        return new GateArtifact(m, new GateSet(m.gateType(), list));
    }

    private static SinkGate.Dims sinkDims(ArtifactManifest m) {
        return new SinkGate.Dims(m.hiddenSize(), m.kvHeads(), m.groupSize(),
                intParam(m, "dim"), intParam(m, "sinks"));
    }

    private static int intParam(ArtifactManifest m, String key) {
        Object v = m.hyperParameters().get(key);
        if (!(v instanceof Number n) || n.intValue() <= 0)
            throw new KvgateException(MANIFEST + ": hyper_parameters." + key + " must be a positive integer, got " + v);
        return n.intValue();
    }

    // ---- manifest.json ----

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static byte[] manifestJson(ArtifactManifest m) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        root.put("format_version", m.formatVersion());
        root.put("kvgate_version", m.kvgateVersion());
        root.put("gate_type", m.gateType().id());
        root.put("tensor_prefix", "layers.{layer}.");
        root.set("hyper_parameters", JSON.valueToTree(m.hyperParameters()));
        ArrayNode layers = root.putArray("gated_layers");
        for (int l : m.gatedLayers()) layers.add(l);
        root.put("hidden_size", m.hiddenSize());
        root.put("kv_heads", m.kvHeads());
        root.put("group_size", m.groupSize());
        ObjectNode model = root.putObject("model");
        model.put("fingerprint", m.modelFingerprint());
        model.put("model_type", m.modelType());
        ObjectNode corpus = root.putObject("corpus");
        corpus.put("source", m.corpus().source());
        corpus.put("tokens", m.corpus().tokens());
        corpus.put("held_out_tokens", m.corpus().heldOutTokens());
        ObjectNode metrics = root.putObject("metrics");
        metrics.put("threshold", GateMetrics.THRESHOLD);
        metrics.set("overall", metricsNode(m.overall()));
        ObjectNode per = metrics.putObject("layers");
        for (Map.Entry<Integer, GateMetrics> e : new TreeMap<>(m.layerMetrics()).entrySet()) per.set(String.valueOf(e.getKey()), metricsNode(e.getValue()));
        try {
            return JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode metricsNode(GateMetrics g) {
        ObjectNode n = JSON.createObjectNode();
        n.put("pairs", g.pairs());
        n.put("mse", g.mse());
        n.put("bce", g.bce());
        n.put("agreement", g.agreement());
        n.put("spearman", g.spearman());
        n.put("target_above_threshold", g.baseRate());
        n.put("constant_gate_agreement", g.constantAgreement());
        return n;
    }

    /** Reads and validates manifest.json alone (what {@code kvgate inspect} needs before the tensors). */
    public static ArtifactManifest readManifest(Path dir) {
        Path f = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(f)) throw new KvgateException(f + ": missing (not a gate artifact directory?)");
        JsonNode root;
        try {
            root = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new KvgateException(f + ": not valid JSON (" + firstLine(e.getMessage()) + ")");
        }
        ManifestFields r = new ManifestFields(f, root);
        if (!FORMAT.equals(r.text("format"))) throw new KvgateException(f + ": format is '" + r.text("format") + "', expected '" + FORMAT + "'");
        int version = r.integer("format_version");
        if (version < 1 || version > FORMAT_VERSION)
            throw new KvgateException(f + ": format_version " + version + " is not supported (this kvgate reads up to " + FORMAT_VERSION + ")");
        GateType type = GateType.parse(r.text("gate_type"));
        Map<String, Object> hyper = JSON.convertValue(r.node("hyper_parameters", true), JSON.getTypeFactory().constructMapType(LinkedHashMap.class, String.class, Object.class));
        JsonNode layersNode = r.node("gated_layers", false);
        int[] layers = new int[layersNode.size()];
        for (int i = 0; i < layers.length; i++) {
            if (!layersNode.get(i).canConvertToInt() || layersNode.get(i).asInt() < 0) throw new KvgateException(f + ": gated_layers[" + i + "] is not a layer index");
            layers[i] = layersNode.get(i).asInt();
            if (i > 0 && layers[i] <= layers[i - 1]) throw new KvgateException(f + ": gated_layers must be ascending and distinct");
        }
        if (layers.length == 0) throw new KvgateException(f + ": gated_layers is empty");
        ManifestFields model = r.object("model"), corpus = r.object("corpus"), metrics = r.object("metrics");
        Map<Integer, GateMetrics> per = new TreeMap<>();
        ManifestFields perLayer = metrics.object("layers");
        for (int l : layers) per.put(l, metrics(perLayer.object(String.valueOf(l))));
        return new ArtifactManifest(version, r.text("kvgate_version"), type, hyper, layers,
                r.positive("hidden_size"), r.positive("kv_heads"), r.positive("group_size"),
                model.text("fingerprint"), model.text("model_type"),
                new CorpusSummary(corpus.text("source"), corpus.count("tokens"), corpus.count("held_out_tokens")),
                per, metrics(metrics.object("overall")));
    }

    private static GateMetrics metrics(ManifestFields n) {
        return new GateMetrics(n.count("pairs"), n.number("mse"), n.number("bce"), n.number("agreement"), n.number("spearman"),
                n.number("target_above_threshold"), n.optionalNumber("constant_gate_agreement"));
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    /** Typed access to one JSON object of the manifest, naming the key path in every error. */
    private record ManifestFields(Path file, JsonNode node, String path) {
        ManifestFields(Path file, JsonNode node) {
            this(file, node, "");
            if (node == null || !node.isObject()) throw new KvgateException(file + ": top level is not a JSON object");
        }

        JsonNode node(String key, boolean object) {
            JsonNode v = node.get(key);
            if (v == null) throw new KvgateException(file + ": missing key '" + path + key + "'");
            if (object ? !v.isObject() : !v.isArray()) throw new KvgateException(file + ": '" + path + key + "' must be " + (object ? "an object" : "an array"));
            return v;
        }

        ManifestFields object(String key) {
            return new ManifestFields(file, node(key, true), path + key + ".");
        }

        String text(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isTextual()) throw new KvgateException(file + ": '" + path + key + "' must be a string");
            return v.asText();
        }

        long count(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0)
                throw new KvgateException(file + ": '" + path + key + "' must be a non-negative integer");
            return v.asLong();
        }

        int integer(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) throw new KvgateException(file + ": '" + path + key + "' must be an integer");
            return v.asInt();
        }

        int positive(String key) {
            int v = integer(key);
            if (v <= 0) throw new KvgateException(file + ": '" + path + key + "' must be positive, got " + v);
            return v;
        }

        /** NaN when absent (manifests written before the key existed). */
        double optionalNumber(String key) {
            return node.has(key) ? number(key) : Double.NaN;
        }

        double number(String key) {
            JsonNode v = node.get(key);
            // NaN metrics (e.g. a constant target) are written by Jackson as the string "NaN"
            if (v != null && v.isTextual() && v.asText().equals("NaN")) return Double.NaN;
            if (v == null || !v.isNumber()) throw new KvgateException(file + ": '" + path + key + "' must be a number");
            return v.asDouble();
        }
    }

    @Override
    public void close() {
        gates.close();
    }
}
