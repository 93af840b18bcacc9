package io.kvgate.models.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.kvgate.models.KvgateException;
import jinjava.javax.el.CompositeELResolver;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint's Jinja chat template, rendered as transformers' {@code apply_chat_template(tokenize=False)} renders
 * it: trim_blocks + lstrip_blocks, {@code messages}, {@code add_generation_prompt}, the special-token strings
 * ({@code bos_token}, {@code eos_token}) and extra keyword arguments ({@code enable_thinking}, …).
 *
 * <p>Rendering uses Jinjava plus what real templates need from Python's Jinja: str/list/dict methods
 * ({@link PythonMethods}), step slices and keyword-argument precedence ({@link JinjaTranslator}),
 * {@code raise_exception} and transformers' {@code tojson} ({@link PythonJson}). Known difference from Python:
 * a bare boolean or None printed by {@code {{ x }}} renders as {@code true}/empty instead of {@code True}/{@code None}
 * (templates print strings, so real ones are unaffected).
 */
public final class ChatTemplate {
    private static final Jinjava JINJAVA = newJinjava();

    private final String source;
    private final String translated;
    private final Map<String, Object> specialTokens;

    private ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = source;
        this.translated = JinjaTranslator.translate(source);
        this.specialTokens = specialTokens;
    }

    /** A template from source, with the special-token strings it may refer to (null = not defined). */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        Map<String, Object> tokens = new HashMap<>();
        if (bosToken != null) tokens.put("bos_token", bosToken);
        if (eosToken != null) tokens.put("eos_token", eosToken);
        return new ChatTemplate(source, tokens);
    }

    /**
     * The chat template of a checkpoint directory: {@code chat_template.jinja} if present (newer transformers save it
     * there), else {@code tokenizer_config.json}'s {@code chat_template} (a string, or a list of named templates of
     * which "default" is used). Empty when the checkpoint has none.
     */
    public static Optional<ChatTemplate> load(Path dir) {
        Path configFile = dir.resolve("tokenizer_config.json");
        JsonNode config = TextTokenizer.readOptionalJson(configFile);
        Map<String, Object> tokens = new HashMap<>();
        if (config != null) {
            for (var it = config.fields(); it.hasNext(); ) { // every *_token string, as special_tokens_map holds them
                var e = it.next();
                if (e.getKey().endsWith("_token")) {
                    String t = TextTokenizer.tokenString(config, e.getKey());
                    if (t != null) tokens.put(e.getKey(), t);
                }
            }
        }
        Path jinjaFile = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinjaFile)) {
            try {
                return Optional.of(new ChatTemplate(Files.readString(jinjaFile, StandardCharsets.UTF_8), tokens));
            } catch (IOException e) {
                throw new KvgateException(jinjaFile + ": unreadable (" + e.getMessage() + ")", e);
            }
        }
        JsonNode t = config == null ? null : config.get("chat_template");
        if (t == null || t.isNull()) return Optional.empty();
        if (t.isTextual()) return Optional.of(new ChatTemplate(t.asText(), tokens));
        if (t.isArray()) {
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return Optional.of(new ChatTemplate(named.get("template").asText(), tokens));
                }
            }
        }
        throw new KvgateException(configFile + ": chat_template must be a string or a list with a \"default\" template");
    }

    /** The template as written in the checkpoint. */
    public String source() {
        return source;
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * @param kwargs extra template variables, e.g. {@code enable_thinking=false}; they override the special tokens
     * @throws KvgateException when the template rejects the messages ({@code raise_exception}) or fails to render
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> kwargs) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            msgs.add(map);
        }
        Map<String, Object> context = new HashMap<>(specialTokens);
        context.put("messages", msgs);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.putAll(kwargs);

        RenderResult result = JINJAVA.renderForResult(translated, context);
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL) continue;
            String raised = raisedMessage(e.getException());
            if (raised != null) throw new KvgateException("chat template rejected the messages: " + raised);
            throw new KvgateException("chat template failed to render at line " + e.getLineno() + ": "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        return result.getOutput();
    }

    private static String raisedMessage(Throwable t) {
        for (; t != null; t = t.getCause()) {
            if (t instanceof TemplateRaised r) return r.getMessage();
            if (t.getCause() == t) break;
        }
        return null;
    }

    /** Thrown by the templates' {@code raise_exception(message)}. */
    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message);
        }
    }

    public static Object raiseException(String message) {
        throw new TemplateRaised(message);
    }

    private static Jinjava newJinjava() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        Jinjava jinjava = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // As in Jinja2: {{- x }} strips the whitespace before it; lists and dicts print as Python reprs.
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUsePyishObjectMapper(true)
                        .build())
                .withElResolver(resolver)
                .build());
        jinjava.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFilter(new PythonJson());
        return jinjava;
    }
}
