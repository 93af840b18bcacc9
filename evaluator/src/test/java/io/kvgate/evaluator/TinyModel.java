package io.kvgate.evaluator;

import io.kvgate.models.Checkpoint;
import io.kvgate.models.Model;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The bundled tiny retrieval model, shared by the tests of one JVM (public: the policy package's tests use it too). */
public final class TinyModel {
    public static final Path DIR = Path.of("../checkpoints/tiny-retrieval-qwen3");
    private static Model model;

    private TinyModel() {}

    public static synchronized Model get() {
        if (model == null) model = Model.load(Checkpoint.open(DIR));
        return model;
    }

    /** The context of one seeded key-value retrieval task (seed 9, ~600 tokens): what the gated-runtime tests prefill. */
    public static int[] kvContext() {
        io.kvgate.evaluator.tasks.Task kv = new io.kvgate.evaluator.tasks.TaskGenerator(9, io.kvgate.evaluator.tasks.Filler.bundled(),
                new int[] {100, 600}, new int[] {14, 16}, new int[] {50, 340}).generate(java.util.Map.of("kv", 1)).get(0);
        return BYTES.encode(kv.context());
    }

    /**
     * The tiny model's byte-level tokenizer (id = byte; 256..258 = the specials written literally), enough for
     * tests without the tokenizer library.
     */
    public static final TextCodec BYTES = new TextCodec() {
        private final String[] specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

        @Override
        public int[] encode(String text) {
            java.util.List<Integer> ids = new java.util.ArrayList<>();
            int i = 0;
            outer:
            while (i < text.length()) {
                for (int s = 0; s < specials.length; s++) {
                    if (text.startsWith(specials[s], i)) {
                        ids.add(256 + s);
                        i += specials[s].length();
                        continue outer;
                    }
                }
                int j = i;
                while (j < text.length() && text.charAt(j) != '<') j++;
                if (j == i) j++;
                for (byte b : text.substring(i, j).getBytes(StandardCharsets.UTF_8)) ids.add(b & 0xff);
                i = j;
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public String decode(int[] ids) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int id : ids) if (id < 256) out.write(id);
            return out.toString(StandardCharsets.UTF_8);
        }
    };
}
