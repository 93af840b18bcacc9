package io.kvgate.models.text;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Seeded passkey prompts in the tiny model's format (TASKS.md), with filler cut from a small prose text. */
final class PasskeyPrompts {
    record Passkey(String context, String query, String answer) {
        String prompt() {
            return context + query;
        }
    }

    private final String prose;

    PasskeyPrompts() {
        try (InputStream in = PasskeyPrompts.class.getResourceAsStream("/text/filler.txt")) {
            prose = new String(in.readAllBytes(), StandardCharsets.UTF_8).replace('\n', ' ').trim();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code count} prompts: 100–600 filler characters cut at word boundaries, the needle at a random word boundary. */
    List<Passkey> make(long seed, int count) {
        Random r = new Random(seed);
        List<Passkey> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String filler = fillerOf(r, 100 + r.nextInt(501));
            int cut = wordBoundary(filler, r.nextInt(filler.length()));
            String key = String.format("%05d", r.nextInt(100_000));
            String context = "<|im_start|>" + filler.substring(0, cut).trim() + "\nThe pass key is " + key
                    + ". Remember it. " + key + " is the pass key.\n" + filler.substring(cut).trim() + "<|im_end|>";
            out.add(new Passkey(context, "\nWhat is the pass key? The pass key is", " " + key + "."));
        }
        return out;
    }

    private String fillerOf(Random r, int length) {
        int start = wordBoundary(prose, r.nextInt(prose.length() - length));
        int end = wordBoundary(prose, Math.min(prose.length(), start + length));
        return prose.substring(start, end).trim();
    }

    private static int wordBoundary(String s, int at) {
        while (at > 0 && at < s.length() && s.charAt(at) != ' ') at--;
        return at;
    }
}
