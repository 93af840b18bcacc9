package io.kvgate.models.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A checkpoint's Hugging Face tokenizer ({@code tokenizer.json}, through DJL's native tokenizers binding), with the
 * special tokens named in {@code tokenizer_config.json} / {@code generation_config.json}.
 *
 * <p>Encodings are never truncated or padded (DJL truncates at 512 tokens unless told not to). Special tokens
 * written literally in the text ({@code <|im_start|>}) become their ids; automatic special tokens (a BOS the
 * tokenizer's post-processor would add) are off unless asked for, because chat templates write them themselves.
 * Owns a native handle: close it.
 */
public final class TextTokenizer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Path tokenizerFile;
    private final boolean addSpecialTokens;
    /** added_tokens of tokenizer.json: content → id (special or not). */
    private final Map<String, Integer> addedTokens;
    private final Set<Integer> specialIds;
    private final String bosToken;
    private final String eosToken;
    private final OptionalInt bosId;
    private final int[] eosIds;
    private Map<String, Integer> vocab; // model vocabulary, parsed on first tokenId miss

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Path tokenizerFile, boolean addSpecialTokens,
                          Map<String, Integer> addedTokens, Set<Integer> specialIds, String bosToken,
                          String eosToken, OptionalInt bosId, int[] eosIds) {
        this.tokenizer = tokenizer;
        this.tokenizerFile = tokenizerFile;
        this.addSpecialTokens = addSpecialTokens;
        this.addedTokens = addedTokens;
        this.specialIds = specialIds;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.bosId = bosId;
        this.eosIds = eosIds;
    }

    /** The checkpoint's tokenizer, without automatic special tokens. */
    public static TextTokenizer load(Checkpoint checkpoint) {
        return load(checkpoint.dir(), false);
    }

    /** The tokenizer of a checkpoint directory (tokenizer.json + optional tokenizer_config.json, generation_config.json). */
    public static TextTokenizer load(Path dir) {
        return load(dir, false);
    }

    /**
     * @param addSpecialTokens let the tokenizer's post-processor add its special tokens (e.g. Gemma's BOS) to every
     *                         encoding, as {@code tokenizer(text)} does in transformers
     */
    public static TextTokenizer load(Path dir, boolean addSpecialTokens) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) throw new KvgateException("tokenizer.json not found in " + dir);
        Map<String, Integer> added = new HashMap<>();
        Set<Integer> special = new java.util.HashSet<>();
        readAddedTokens(file, added, special);

        JsonNode tokCfg = readOptionalJson(dir.resolve("tokenizer_config.json"));
        JsonNode genCfg = readOptionalJson(dir.resolve("generation_config.json"));
        String bos = tokenString(tokCfg, "bos_token");
        String eos = tokenString(tokCfg, "eos_token");

        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(addSpecialTokens)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new KvgateException(file + ": not a valid Hugging Face tokenizer.json (" + e.getMessage() + ")", e);
        }

        OptionalInt bosId = OptionalInt.empty();
        if (genCfg != null && genCfg.path("bos_token_id").isInt()) bosId = OptionalInt.of(genCfg.get("bos_token_id").asInt());
        else if (bos != null && added.containsKey(bos)) bosId = OptionalInt.of(added.get(bos));

        // Stop ids: generation_config's eos_token_id (int or list) and the tokenizer's eos_token.
        Set<Integer> eosSet = new LinkedHashSet<>();
        JsonNode genEos = genCfg == null ? null : genCfg.get("eos_token_id");
        if (genEos != null && genEos.isInt()) eosSet.add(genEos.asInt());
        if (genEos != null && genEos.isArray()) genEos.forEach(n -> eosSet.add(n.asInt()));
        if (eos != null && added.containsKey(eos)) eosSet.add(added.get(eos));
        int[] eosIds = eosSet.stream().mapToInt(Integer::intValue).toArray();

        return new TextTokenizer(hf, file, addSpecialTokens, Collections.unmodifiableMap(added),
                Collections.unmodifiableSet(special), bos, eos, bosId, eosIds);
    }

    /** Token ids of {@code text}, all of them (never truncated); literal special tokens map to their ids. */
    public int[] encode(String text) {
        Encoding enc = tokenizer.encode(text, addSpecialTokens, false);
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    /** Text of {@code ids}; with {@code skipSpecial} the special tokens (BOS, EOS, chat markers) are left out. */
    public String decode(int[] ids, boolean skipSpecial) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return tokenizer.decode(l, skipSpecial);
    }

    /** The id of one token string: an added/special token ({@code <|im_end|>}) or a vocabulary entry. */
    public OptionalInt tokenId(String token) {
        Integer id = addedTokens.get(token);
        if (id == null) id = vocab().get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Whether {@code id} is one of tokenizer.json's special added tokens. */
    public boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    /** tokenizer_config.json's bos_token string (for chat templates), if any. */
    public Optional<String> bosToken() {
        return Optional.ofNullable(bosToken);
    }

    /** tokenizer_config.json's eos_token string (for chat templates), if any. */
    public Optional<String> eosToken() {
        return Optional.ofNullable(eosToken);
    }

    /** generation_config.json's bos_token_id, else the id of tokenizer_config's bos_token. */
    public OptionalInt bosId() {
        return bosId;
    }

    /** Ids that end generation: generation_config.json's eos_token_id(s) plus tokenizer_config's eos_token. */
    public int[] eosIds() {
        return eosIds.clone();
    }

    public Path file() {
        return tokenizerFile;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private synchronized Map<String, Integer> vocab() {
        if (vocab == null) vocab = readVocab(tokenizerFile);
        return vocab;
    }

    /** Streams tokenizer.json's top-level "added_tokens" (the file can hold a 250K-entry vocabulary we skip). */
    private static void readAddedTokens(Path file, Map<String, Integer> added, Set<Integer> special) {
        try (JsonParser p = new JsonFactory().createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw new KvgateException(file + ": expected a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if ("added_tokens".equals(field) && p.currentToken() == JsonToken.START_ARRAY) {
                    JsonNode arr = JSON.readTree(p);
                    for (JsonNode t : arr) {
                        int id = t.path("id").asInt(-1);
                        String content = t.path("content").asText(null);
                        if (id < 0 || content == null) continue;
                        added.put(content, id);
                        if (t.path("special").asBoolean(false)) special.add(id);
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new KvgateException(file + ": unreadable tokenizer.json (" + e.getMessage() + ")", e);
        }
    }

    /** model.vocab of tokenizer.json: an object token → id (BPE, WordPiece) or a list of [piece, score] (Unigram). */
    private static Map<String, Integer> readVocab(Path file) {
        Map<String, Integer> vocab = new HashMap<>();
        try (JsonParser p = new JsonFactory().createParser(file.toFile())) {
            p.nextToken();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (!"model".equals(field)) {
                    p.skipChildren();
                    continue;
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    JsonToken t = p.nextToken();
                    if ("vocab".equals(key) && t == JsonToken.START_OBJECT) {
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String tok = p.currentName();
                            p.nextToken();
                            vocab.put(tok, p.getIntValue());
                        }
                    } else if ("vocab".equals(key) && t == JsonToken.START_ARRAY) {
                        int i = 0;
                        while (p.nextToken() == JsonToken.START_ARRAY) {
                            p.nextToken();
                            vocab.put(p.getText(), i++);
                            while (p.nextToken() != JsonToken.END_ARRAY) p.skipChildren();
                        }
                    } else {
                        p.skipChildren();
                    }
                }
                break;
            }
        } catch (IOException e) {
            throw new KvgateException(file + ": unreadable tokenizer.json (" + e.getMessage() + ")", e);
        }
        return vocab;
    }

    static JsonNode readOptionalJson(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new KvgateException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }

    /** A special token in tokenizer_config.json: a string, or an AddedToken object with "content"; null if absent. */
    static String tokenString(JsonNode config, String key) {
        if (config == null) return null;
        JsonNode n = config.get(key);
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.path("content").isTextual()) return n.get("content").asText();
        return null;
    }
}
