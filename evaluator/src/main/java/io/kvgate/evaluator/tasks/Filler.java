package io.kvgate.evaluator.tasks;

import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Prose to pad generated contexts with. The default is a small text bundled with the evaluator (plain
 * sentences and package-description-like paragraphs, the kind of text the tiny model was trained on).
 */
public final class Filler {
    private final String text;

    public Filler(String text) {
        if (text.length() < 700) throw new KvgateException("filler text must hold at least 700 characters, got " + text.length());
        this.text = text;
    }

    public static Filler bundled() {
        try (InputStream in = Filler.class.getResourceAsStream("/io/kvgate/evaluator/filler.txt")) {
            if (in == null) throw new IllegalStateException("filler.txt missing from the evaluator jar");
            return new Filler(new String(in.readAllBytes(), StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Filler fromFile(Path file) {
        try {
            return new Filler(Files.readString(file, StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            throw new KvgateException("cannot read filler text " + file + ": " + e.getMessage(), e);
        }
    }

    /** {@code length} characters of the text starting at a random word, wrapping around at the end. */
    public String take(Random random, int length) {
        int start = random.nextInt(text.length());
        while (start > 0 && !Character.isWhitespace(text.charAt(start - 1))) start--;
        StringBuilder sb = new StringBuilder(length);
        int i = start;
        while (sb.length() < length) {
            sb.append(text.charAt(i));
            i = (i + 1) % text.length();
            if (i == 0) sb.append('\n');
        }
        sb.setLength(length);
        return sb.toString();
    }
}
