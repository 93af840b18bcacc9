package io.kvgate.cli;

import io.kvgate.models.Checkpoint;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.text.ChatMessage;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.Generator;
import io.kvgate.models.text.IncrementalDecoder;
import io.kvgate.models.text.SamplingConfig;
import io.kvgate.models.text.TextTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** Generate a continuation with the full KV cache, streamed to stdout as it is decoded. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate a continuation with the full KV cache; the text streams to stdout as it is decoded.",
                "Give the input as text (--prompt, optionally wrapped by the checkpoint's chat template with --chat) "
                        + "or as token ids (--ids). Greedy unless --temperature > 0."})
public final class GenerateCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt", paramLabel = "TEXT",
            description = "Text to continue. Special tokens written literally (<|im_start|>) become their ids; the "
                    + "tokenizer adds its own special tokens (e.g. Gemma's <bos>) as transformers' tokenizer(text) does.")
    String prompt;

    @Option(names = "--ids", paramLabel = "LIST", description = "Token ids to continue, comma-separated (e.g. 1,2,3).")
    String ids;

    @Option(names = "--chat", description = "Render --prompt as a user turn with the checkpoint's chat template, "
            + "followed by the generation prompt.")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", description = "System message before the user turn (with --chat).")
    String system;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "64",
            description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
            description = "Sampling temperature; 0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1.0",
            description = "Nucleus sampling mass in (0, 1] (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--show-ids", description = "After the text, print the generated ids on a line of their own.")
    boolean showIds;

    @Override
    public void run() {
        if ((prompt == null) == (ids == null)) throw new KvgateException("give exactly one of --prompt TEXT or --ids LIST");
        if (chat && prompt == null) throw new KvgateException("--chat needs --prompt (token ids are not templated)");
        if (system != null && !chat) throw new KvgateException("--system needs --chat");
        SamplingConfig cfg = new SamplingConfig(maxNewTokens, temperature, topP, seed, new int[0]);
        int[] givenIds = ids == null ? null : parseIds(ids);

        try (Checkpoint checkpoint = modelOptions.openCheckpoint();
             // Text needs the tokenizer (load reports its absence); ids only use it, when present, to print text.
             TextTokenizer tokenizer = prompt != null || checkpoint.tokenizerFile().isPresent()
                     ? TextTokenizer.load(checkpoint.dir(), prompt != null && !chat) : null) {
            int[] promptIds = prompt != null ? tokenizer.encode(promptText(checkpoint)) : givenIds;
            checkIds(promptIds, checkpoint.config().vocabSize());
            if (tokenizer != null) cfg = cfg.withExtraStopIds(tokenizer.eosIds());
            generate(checkpoint, tokenizer, promptIds, cfg);
        }
    }

    private String promptText(Checkpoint checkpoint) {
        if (!chat) return prompt;
        ChatTemplate template = ChatTemplate.load(checkpoint.dir()).orElseThrow(() -> new KvgateException(
                checkpoint.dir() + " has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja); drop --chat"));
        List<ChatMessage> messages = new ArrayList<>();
        if (system != null) messages.add(ChatMessage.system(system));
        messages.add(ChatMessage.user(prompt));
        return template.render(messages, true);
    }

    private void generate(Checkpoint checkpoint, TextTokenizer tokenizer, int[] promptIds, SamplingConfig cfg) {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Model model = Model.load(checkpoint, modelOptions.device(), modelOptions.dataType());
             KvCache cache = model.newCache()) {
            IncrementalDecoder text = tokenizer == null ? null : new IncrementalDecoder(tokenizer, false);
            long t0 = System.nanoTime();
            int[] generated = new Generator().generate(model, cache, promptIds, cfg, null, id -> {
                if (text == null) return;
                out.print(text.push(id));
                out.flush();
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (text != null) out.println(text.flush());
            if (showIds || text == null) out.println(joinIds(generated));
            out.flush();
            if (Main.verbose()) {
                System.err.printf("kvgate: %d prompt + %d generated tokens in %.2f s%n", promptIds.length, generated.length, seconds);
            }
        }
    }

    static int[] parseIds(String list) {
        String[] parts = list.split(",", -1);
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            try {
                out[i] = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new KvgateException("--ids: '" + p + "' is not a token id (expected comma-separated integers, e.g. 1,2,3)");
            }
        }
        return out;
    }

    private static void checkIds(int[] ids, int vocabSize) {
        if (ids.length == 0) throw new KvgateException("the prompt is empty: nothing to continue");
        for (int id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new KvgateException("token id " + id + " is outside the model's vocabulary [0, " + vocabSize + ")");
            }
        }
    }

    private static String joinIds(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }
}
