package io.kvgate.datasets.corpus;

import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * The corpus shipped inside kvgate ({@code resources/corpus/}): original English prose written for the
 * project, in short paragraphs (300–700 bytes) that fit the tiny model's context. Each paragraph is a document.
 */
public final class EmbeddedCorpus {
    private static final String DIR = "/corpus/";

    private EmbeddedCorpus() {}

    /** The resource files listed in {@code corpus/index.txt}. */
    public static List<String> files() {
        List<String> out = new ArrayList<>();
        for (String line : resource("index.txt").split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) out.add(line.strip());
        }
        return out;
    }

    static boolean read(Predicate<RawDocument> sink) {
        for (String f : files()) {
            if (!TextDocuments.split(CorpusSource.EMBEDDED_NAME + ":" + f, resource(f), true, sink)) return false;
        }
        return true;
    }

    private static String resource(String name) {
        try (InputStream in = EmbeddedCorpus.class.getResourceAsStream(DIR + name)) {
            if (in == null) throw new KvgateException("embedded corpus: resource corpus/" + name + " is missing from the build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KvgateException("embedded corpus: cannot read corpus/" + name, e);
        }
    }
}
