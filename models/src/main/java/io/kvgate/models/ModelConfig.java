package io.kvgate.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;

/**
 * The numbers of a checkpoint's config.json that the forward pass needs, normalised across config
 * generations (transformers 5 {@code rope_parameters}/{@code layer_types} and the older keys) and
 * architectures (qwen2, qwen3, gemma3_text / gemma3 text tower).
 *
 * <p>Absent keys take the defaults of the transformers config class of that architecture (Qwen2Config,
 * Qwen3Config, Gemma3TextConfig), because real hub configs (e.g. Gemma3's nested {@code text_config}) rely on
 * them. Two configs that describe the same model compare equal whatever key style they use.
 *
 * <p>Owned by the models module; other modules only read it.
 */
public final class ModelConfig {
    /** Architecture family the forward pass dispatches on. */
    public enum Family { QWEN2, QWEN3, GEMMA3 }

    public static final String SUPPORTED = "qwen2, qwen3, gemma3_text, gemma3";

    private final Family family;
    private final int vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, maxPositions;
    private final double rmsNormEps;
    private final boolean tieWordEmbeddings, qkvBias, oBias;
    private final double[] ropeTheta, ropeLinearFactor;
    private final boolean[] sliding;
    private final int slidingWindow;
    private final double attentionScale;
    private final double attnLogitSoftcap, finalLogitSoftcap;
    private final int[] eosTokenIds;
    private final SafetensorsFile.Dtype checkpointDtype;

    private ModelConfig(Family family, int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                        int numKvHeads, int headDim, int maxPositions, double rmsNormEps, boolean tieWordEmbeddings,
                        boolean qkvBias, boolean oBias, double[] ropeTheta, double[] ropeLinearFactor, boolean[] sliding,
                        int slidingWindow, double attentionScale, double attnLogitSoftcap, double finalLogitSoftcap,
                        int[] eosTokenIds, SafetensorsFile.Dtype checkpointDtype) {
        this.family = family;
        this.vocabSize = vocabSize;
        this.hiddenSize = hiddenSize;
        this.intermediateSize = intermediateSize;
        this.numLayers = numLayers;
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.maxPositions = maxPositions;
        this.rmsNormEps = rmsNormEps;
        this.tieWordEmbeddings = tieWordEmbeddings;
        this.qkvBias = qkvBias;
        this.oBias = oBias;
        this.ropeTheta = ropeTheta;
        this.ropeLinearFactor = ropeLinearFactor;
        this.sliding = sliding;
        this.slidingWindow = slidingWindow;
        this.attentionScale = attentionScale;
        this.attnLogitSoftcap = attnLogitSoftcap;
        this.finalLogitSoftcap = finalLogitSoftcap;
        this.eosTokenIds = eosTokenIds;
        this.checkpointDtype = checkpointDtype;
    }

    /** Parses config.json (and merges EOS ids of a generation_config.json beside it, as generate() does). */
    public static ModelConfig parse(Path configJson) {
        JsonNode root = readJson(configJson, true);
        if (!root.isObject()) throw new KvgateException(configJson + ": expected a JSON object");
        Path gen = configJson.toAbsolutePath().resolveSibling("generation_config.json");
        JsonNode genRoot = Files.isRegularFile(gen) ? readJson(gen, false) : null;
        return new Parser(configJson, root, genRoot).parse();
    }

    private static JsonNode readJson(Path p, boolean required) {
        try {
            return new ObjectMapper().readTree(Files.readString(p));
        } catch (NoSuchFileException e) {
            throw new KvgateException("missing " + p + (required ? " (a checkpoint directory needs config.json)" : ""));
        } catch (IOException e) {
            throw new KvgateException(p + ": not valid JSON (" + e.getMessage().split("\n")[0] + ")");
        }
    }

    /** Reads one config.json, applying the defaults of the architecture's transformers config class. */
    private static final class Parser {
        private final Path file;
        private final JsonNode top;
        private final JsonNode genRoot;
        private JsonNode c; // the text model's config (top, or gemma3's text_config)
        private Family family;

        Parser(Path file, JsonNode top, JsonNode genRoot) {
            this.file = file;
            this.top = top;
            this.genRoot = genRoot;
        }

        ModelConfig parse() {
            String type = top.path("model_type").asText("");
            c = top;
            switch (type) {
                case "qwen2" -> family = Family.QWEN2;
                case "qwen3" -> family = Family.QWEN3;
                case "gemma3_text" -> family = Family.GEMMA3;
                case "gemma3" -> {
                    family = Family.GEMMA3;
                    if (top.has("text_config")) {
                        c = top.get("text_config");
                        if (!c.isObject()) throw err("text_config", "a JSON object", c);
                    }
                }
                default -> throw new KvgateException(file + ": unsupported model_type '" + type + "' (supported: " + SUPPORTED + ")");
            }
            boolean gemma = family == Family.GEMMA3;
            int vocab = integer("vocab_size", gemma ? 262208 : 151936);
            int hidden = integer("hidden_size", gemma ? 2304 : 4096);
            int inter = integer("intermediate_size", gemma ? 9216 : 22016);
            int layers = integer("num_hidden_layers", gemma ? 26 : 32);
            int heads = integer("num_attention_heads", gemma ? 8 : 32);
            int kvHeads = c.hasNonNull("num_key_value_heads") ? integer("num_key_value_heads", 0) : (gemma ? 4 : heads);
            int headDim = c.hasNonNull("head_dim") ? integer("head_dim", 0)
                    : switch (family) { case GEMMA3 -> 256; case QWEN3 -> 128; case QWEN2 -> hidden / heads; };
            int maxPos = integer("max_position_embeddings", gemma ? 131072 : 32768);
            double eps = number("rms_norm_eps", 1e-6);
            if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
                throw new KvgateException(file + ": num_attention_heads " + heads + " must be a positive multiple of num_key_value_heads " + kvHeads);
            for (String[] kv : new String[][] {{"vocab_size", "" + vocab}, {"hidden_size", "" + hidden}, {"intermediate_size", "" + inter},
                    {"num_hidden_layers", "" + layers}, {"head_dim", "" + headDim}})
                if (Integer.parseInt(kv[1]) <= 0) throw new KvgateException(file + ": " + kv[0] + " must be positive, found " + kv[1]);

            String act = c.path(gemma ? "hidden_activation" : "hidden_act").asText(gemma ? "gelu_pytorch_tanh" : "silu");
            if (c.path("hidden_activation").isNull()) act = gemma ? "gelu_pytorch_tanh" : "silu";
            String wantAct = gemma ? "gelu_pytorch_tanh" : "silu";
            if (!act.equals(wantAct))
                throw new KvgateException(file + ": hidden activation '" + act + "' is not supported for " + family + " (expected " + wantAct + ")");

            boolean tie = bool("tie_word_embeddings", top.path("tie_word_embeddings").asBoolean(gemma));
            boolean attentionBias = bool("attention_bias", false);
            boolean qkvBias = family == Family.QWEN2 || attentionBias;
            boolean oBias = family != Family.QWEN2 && attentionBias;

            boolean[] sliding = layerTypes(layers);
            int window = 0;
            boolean anySliding = false;
            for (boolean s : sliding) anySliding |= s;
            if (anySliding) {
                window = c.hasNonNull("sliding_window") ? integer("sliding_window", 0) : (gemma ? 4096 : 0);
                if (window <= 0) throw new KvgateException(file + ": layer_types has sliding_attention layers but sliding_window is " + c.path("sliding_window"));
            }

            double[] theta = new double[layers], factor = new double[layers];
            for (int l = 0; l < layers; l++) {
                double[] r = rope(sliding[l]);
                theta[l] = r[0];
                factor[l] = r[1];
            }

            double scale = gemma ? 1.0 / Math.sqrt(number("query_pre_attn_scalar", 256)) : 1.0 / Math.sqrt(headDim);
            double attnCap = gemma ? number("attn_logit_softcapping", 0) : 0;
            double finalCap = gemma ? number("final_logit_softcapping", 0) : 0;
            return new ModelConfig(family, vocab, hidden, inter, layers, heads, kvHeads, headDim, maxPos, eps, tie, qkvBias, oBias,
                    theta, factor, sliding, window, scale, attnCap, finalCap, eosIds(), checkpointDtype());
        }

        /** Which layers slide: {@code layer_types} when present, else the older per-architecture keys. */
        private boolean[] layerTypes(int layers) {
            boolean[] s = new boolean[layers];
            JsonNode lt = c.get("layer_types");
            if (lt != null && !lt.isNull()) {
                if (!lt.isArray() || lt.size() != layers)
                    throw new KvgateException(file + ": layer_types must list " + layers + " entries (num_hidden_layers), found " + lt.size());
                for (int l = 0; l < layers; l++) {
                    String t = lt.get(l).asText();
                    if (t.equals("sliding_attention")) s[l] = true;
                    else if (!t.equals("full_attention"))
                        throw new KvgateException(file + ": layer_types[" + l + "] is '" + t + "' (expected full_attention or sliding_attention)");
                }
                return s;
            }
            if (family == Family.GEMMA3) {
                String key = c.has("sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
                int pattern = integer(key, 6);
                if (pattern <= 0) throw err(key, "a positive integer", c.get(key));
                for (int l = 0; l < layers; l++) s[l] = (l + 1) % pattern != 0; // every pattern-th layer is global
            } else if (bool("use_sliding_window", false) && c.hasNonNull("sliding_window")) {
                int maxWindowLayers = integer("max_window_layers", 28);
                for (int l = 0; l < layers; l++) s[l] = l >= maxWindowLayers;
            }
            return s;
        }

        /** {theta, linear factor} of a layer's RoPE, from {@code rope_parameters} or the older keys. */
        private double[] rope(boolean slidingLayer) {
            String layerType = slidingLayer ? "sliding_attention" : "full_attention";
            boolean gemma = family == Family.GEMMA3;
            JsonNode rp = c.get("rope_parameters");
            JsonNode params;
            double defaultTheta;
            if (rp != null && rp.isObject()) {
                params = rp.has(layerType) ? rp.get(layerType) : rp;
                defaultTheta = gemma ? (slidingLayer ? 10000 : 1_000_000) : 10000;
                if (!params.isObject() || (rp.has("full_attention") && !rp.has(layerType)))
                    throw new KvgateException(file + ": rope_parameters has no entry for layer type '" + layerType + "'");
                double fallback = gemma && slidingLayer ? number("rope_local_base_freq", defaultTheta) : number("rope_theta", defaultTheta);
                return ropeOf(params, "rope_parameters", params.path("rope_theta").asDouble(fallback));
            }
            if (gemma && slidingLayer) return new double[] {number("rope_local_base_freq", 10000), 1};
            double theta = number("rope_theta", gemma ? 1_000_000 : 10000);
            JsonNode scaling = c.get("rope_scaling");
            if (scaling == null || scaling.isNull()) return new double[] {theta, 1};
            return ropeOf(scaling, "rope_scaling", theta);
        }

        private double[] ropeOf(JsonNode p, String key, double theta) {
            String type = p.has("rope_type") ? p.get("rope_type").asText() : p.path("type").asText("default");
            switch (type) {
                case "default":
                    return new double[] {theta, 1};
                case "linear": {
                    double f = p.path("factor").asDouble(Double.NaN);
                    if (!(f > 0)) throw err(key + ".factor", "a positive number for linear RoPE scaling", p.get("factor"));
                    return new double[] {theta, f};
                }
                default:
                    throw new KvgateException(file + ": " + key + " has rope_type '" + type + "' (supported: default, linear)");
            }
        }

        /** {@code dtype} (transformers 5) or {@code torch_dtype} (older), text config then top level; null if absent. */
        private SafetensorsFile.Dtype checkpointDtype() {
            for (JsonNode n : new JsonNode[] {c.get("dtype"), c.get("torch_dtype"), top.get("dtype"), top.get("torch_dtype")}) {
                if (n == null || n.isNull()) continue;
                switch (n.asText()) {
                    case "bfloat16": return SafetensorsFile.Dtype.BF16;
                    case "float16": return SafetensorsFile.Dtype.F16;
                    case "float32": return SafetensorsFile.Dtype.F32;
                    default: throw err("dtype", "bfloat16, float16 or float32", n);
                }
            }
            return null;
        }

        /** EOS ids: config's {@code eos_token_id} (int or list, text config then top level) plus generation_config's. */
        private int[] eosIds() {
            Set<Integer> ids = new LinkedHashSet<>();
            addIds(ids, c.get("eos_token_id"));
            addIds(ids, top.get("eos_token_id"));
            if (genRoot != null) addIds(ids, genRoot.get("eos_token_id"));
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }

        private static void addIds(Set<Integer> ids, JsonNode n) {
            if (n == null || n.isNull()) return;
            if (n.isArray()) n.forEach(x -> ids.add(x.asInt()));
            else ids.add(n.asInt());
        }

        private int integer(String key, int def) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return def;
            if (!n.canConvertToInt() || !(n.isIntegralNumber() || (n.isNumber() && n.asDouble() == Math.rint(n.asDouble()))))
                throw err(key, "an integer", n);
            return n.asInt();
        }

        private double number(String key, double def) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return def;
            if (!n.isNumber()) throw err(key, "a number", n);
            return n.asDouble();
        }

        private boolean bool(String key, boolean def) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return def;
            if (!n.isBoolean()) throw err(key, "true or false", n);
            return n.asBoolean();
        }

        private KvgateException err(String key, String expected, JsonNode found) {
            return new KvgateException(file + ": key '" + key + "' should be " + expected + ", found " + found);
        }
    }

    public Family family() { return family; }
    public int vocabSize() { return vocabSize; }
    public int hiddenSize() { return hiddenSize; }
    public int intermediateSize() { return intermediateSize; }
    public int numLayers() { return numLayers; }
    public int numHeads() { return numHeads; }
    public int numKvHeads() { return numKvHeads; }
    public int headDim() { return headDim; }
    /** Query heads per KV head (GQA group size G). */
    public int groupSize() { return numHeads() / numKvHeads(); }
    public int maxPositions() { return maxPositions; }
    public double rmsNormEps() { return rmsNormEps; }
    public boolean tieWordEmbeddings() { return tieWordEmbeddings; }
    /** q/k/v projections carry a bias (qwen2 always; others when attention_bias). */
    public boolean qkvBias() { return qkvBias; }
    /** o_proj carries a bias (qwen3/gemma3 with attention_bias). */
    public boolean oBias() { return oBias; }
    /** q_norm/k_norm per head before RoPE (qwen3, gemma3). */
    public boolean qkNorm() { return family != Family.QWEN2; }
    /** RoPE base of a layer (Gemma3 sliding layers have their own). */
    public double ropeTheta(int layer) { return ropeTheta[layer]; }
    /** Linear RoPE scaling factor of a layer (1 = none). */
    public double ropeLinearFactor(int layer) { return ropeLinearFactor[layer]; }
    /** True for sliding-window (local) layers. */
    public boolean isSlidingLayer(int layer) { return sliding[layer]; }
    /** Sliding window size in tokens, 0 when no layer slides. A query at q sees keys k with q - k < window. */
    public int slidingWindow() { return slidingWindow; }
    /** Window of one layer: {@link #slidingWindow()} for sliding layers, 0 (unbounded) otherwise. */
    public int windowOf(int layer) { return sliding[layer] ? slidingWindow : 0; }
    /** Softmax scaling of q·k: head_dim^-0.5 (Qwen) or query_pre_attn_scalar^-0.5 (Gemma3). */
    public double attentionScale() { return attentionScale; }
    /** Gemma attn_logit_softcapping, 0 when absent. */
    public double attnLogitSoftcap() { return attnLogitSoftcap; }
    /** Gemma final_logit_softcapping, 0 when absent. */
    public double finalLogitSoftcap() { return finalLogitSoftcap; }
    /** Layers that carry gates and may be evicted: all layers, except sliding-window layers. */
    public int[] gatedLayers() {
        return java.util.stream.IntStream.range(0, numLayers).filter(l -> !sliding[l]).toArray();
    }
    public int[] eosTokenIds() { return eosTokenIds.clone(); }
    /**
     * The dtype config.json declares ({@code dtype}/{@code torch_dtype}), or null. transformers casts the RoPE
     * {@code inv_freq} buffer to it when loading in that dtype, so kvgate rounds RoPE frequencies to it (or, when
     * absent, to the weights' dtype on disk) for exact parity.
     */
    public SafetensorsFile.Dtype checkpointDtype() { return checkpointDtype; }

    /** Canonical text of every number above: equality, hashing and the checkpoint fingerprint use it. */
    public String canonical() {
        StringBuilder sb = new StringBuilder();
        sb.append("family=").append(family).append(" vocab=").append(vocabSize).append(" hidden=").append(hiddenSize)
                .append(" intermediate=").append(intermediateSize).append(" layers=").append(numLayers)
                .append(" heads=").append(numHeads).append(" kvHeads=").append(numKvHeads).append(" headDim=").append(headDim)
                .append(" maxPositions=").append(maxPositions).append(" eps=").append(num(rmsNormEps))
                .append(" tie=").append(tieWordEmbeddings).append(" qkvBias=").append(qkvBias).append(" oBias=").append(oBias)
                .append(" window=").append(slidingWindow).append(" scale=").append(num(attentionScale))
                .append(" attnCap=").append(num(attnLogitSoftcap)).append(" finalCap=").append(num(finalLogitSoftcap))
                .append(" layers=[");
        for (int l = 0; l < numLayers; l++) {
            if (l > 0) sb.append(',');
            sb.append(sliding[l] ? 'S' : 'F').append(':').append(num(ropeTheta[l])).append('/').append(num(ropeLinearFactor[l]));
        }
        return sb.append("] dtype=").append(checkpointDtype).append(" eos=").append(Arrays.toString(eosTokenIds)).toString();
    }

    private static String num(double d) {
        return String.format(Locale.ROOT, "%.9g", d);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig m && m.canonical().equals(canonical());
    }

    @Override
    public int hashCode() {
        return canonical().hashCode();
    }

    @Override
    public String toString() {
        return "ModelConfig{" + canonical() + "}";
    }
}
