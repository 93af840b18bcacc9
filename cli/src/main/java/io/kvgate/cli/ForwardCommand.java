package io.kvgate.cli;

import ai.djl.ndarray.NDManager;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.ForwardResult;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.SafetensorsWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;

/** Run one full forward pass and write logits and final hidden states. */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Run one full forward pass over token ids and write logits [T, vocab] and hidden_last [T, hidden] "
                + "(after the final norm), both float32, to a .safetensors file.")
public final class ForwardCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--ids", required = true, paramLabel = "LIST", description = "Comma-separated token ids, e.g. 1,2,3.")
    String ids;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .safetensors file (written atomically).")
    Path out;

    @Option(names = "--chunk", paramLabel = "N", description = "Prefill chunk size through the KV cache (default: all tokens in one pass).")
    Integer chunk;

    @Override
    public void run() {
        int[] tokens = parseIds(ids);
        if (chunk != null && chunk <= 0) throw new KvgateException("--chunk must be a positive number of tokens, found " + chunk);
        try (Checkpoint ck = modelOptions.openCheckpoint(); Model m = Model.load(ck, modelOptions.device(), modelOptions.dataType()); KvCache cache = m.newCache();
             NDManager scope = m.manager().newSubManager()) {
            ForwardOptions opts = ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL).withKeepHidden(true);
            ForwardResult r = m.forward(scope, cache, tokens, opts, chunk == null ? tokens.length : chunk);
            int t = tokens.length, v = m.config().vocabSize(), d = m.config().hiddenSize();
            new SafetensorsWriter()
                    .putF32("logits", new long[] {t, v}, r.logits().toFloatArray())
                    .putF32("hidden_last", new long[] {t, d}, r.hiddenLast().toFloatArray())
                    .putI64("input_ids", new long[] {t}, Arrays.stream(tokens).asLongStream().toArray())
                    .metadata("model", modelOptions.model.toString())
                    .metadata("fingerprint", ck.fingerprint())
                    .write(out);
            System.out.printf("wrote %s: logits [%d, %d], hidden_last [%d, %d] (model %s, fingerprint %s)%n",
                    out, t, v, t, d, ck.config().family().name().toLowerCase(), ck.fingerprint());
        }
    }

    /** "1,2,3" → ids; anything else is a one-line error naming the bad item. */
    static int[] parseIds(String list) {
        String[] parts = list.trim().split("\\s*,\\s*");
        if (list.isBlank()) throw new KvgateException("--ids is empty (expected comma-separated token ids, e.g. 1,2,3)");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new KvgateException("--ids: item " + (i + 1) + " '" + parts[i] + "' is not a token id (expected comma-separated integers, e.g. 1,2,3)");
            }
            if (out[i] < 0) throw new KvgateException("--ids: item " + (i + 1) + " is negative (" + out[i] + ")");
        }
        return out;
    }
}
