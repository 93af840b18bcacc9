package io.kvgate.datasets.corpus;

import io.kvgate.datasets.ParquetIo;
import io.kvgate.models.KvgateException;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Corpus readers and shaping: good inputs give the right documents, bad ones clear errors or counted skips. */
class CorpusTest {
    /** Byte-level encoder, like the tiny model's tokenizer. */
    static final Function<String, int[]> BYTES = s -> {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xff;
        return ids;
    };

    static String words(int n, char c) {
        return String.valueOf(c).repeat(n);
    }

    static ShapedCorpus shape(CorpusSpec spec) {
        return new DocumentShaper(spec, BYTES).shape(new CorpusReader(spec));
    }

    static String text(ShapedDocument d) {
        byte[] b = new byte[d.length()];
        for (int i = 0; i < b.length; i++) b[i] = (byte) d.tokens()[i];
        return new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void textDirectoryOneDocumentPerFileOrPerParagraph(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.txt"), words(30, 'a') + "\n\n  \n" + words(5, 'b') + "\n\n" + words(40, 'c'));
        Files.createDirectories(dir.resolve("sub"));
        Files.writeString(dir.resolve("sub/b.md"), words(25, 'd'));
        Files.writeString(dir.resolve("ignored.bin"), "zzz");

        ShapedCorpus perFile = shape(new CorpusSpec(List.of(dir.toString()), "text", false, 10, 1000, 0, 0, 1));
        assertEquals(2, perFile.documents().size());
        assertEquals(2, perFile.summary().documentsRead());

        ShapedCorpus perPara = shape(new CorpusSpec(List.of(dir.toString()), "text", true, 10, 1000, 0, 0, 1));
        List<String> texts = perPara.documents().stream().map(CorpusTest::text).sorted().toList();
        assertEquals(List.of(words(30, 'a'), words(40, 'c'), words(25, 'd')), texts);
        assertEquals(Map.of(CorpusSummary.TOO_SHORT, 1L), perPara.summary().skipped()); // the 5-byte paragraph
        assertEquals(95, perPara.summary().tokens());
        assertEquals(25, perPara.summary().minLength());
        assertEquals(40, perPara.summary().maxLength());
        for (int i = 0; i < perPara.documents().size(); i++) assertEquals(i, perPara.documents().get(i).index());
    }

    @Test
    void longDocumentsAreCutAndShortTailsCounted(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("long.txt");
        String s = "0123456789".repeat(25); // 250 tokens
        Files.writeString(f, s);
        ShapedCorpus c = shape(new CorpusSpec(List.of(f.toString()), "text", false, 40, 100, 0, 0, 0));
        assertEquals(3, c.documents().size()); // 250 = 100 + 100 + 50, and the 50-token tail reaches min 40
        c = shape(new CorpusSpec(List.of(f.toString()), "text", false, 60, 100, 0, 0, 0));
        assertEquals(2, c.documents().size());
        assertEquals(Map.of(CorpusSummary.TAIL_TOO_SHORT, 1L), c.summary().skipped());
        for (ShapedDocument d : c.documents()) assertEquals(100, d.length());
    }

    @Test
    void concatenationReachesTheTargetLength(@TempDir Path dir) throws Exception {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 10; i++) b.append(words(30, (char) ('a' + i))).append("\n\n");
        Path f = dir.resolve("paras.txt");
        Files.writeString(f, b.toString());
        ShapedCorpus c = shape(new CorpusSpec(List.of(f.toString()), "text", true, 10, 50, 100, 0, 0));
        // each joined document: 4 paragraphs of 30 + 3 separators of 2 = 126 >= 100; 10 = 4 + 4 + 2 left over
        assertEquals(2, c.documents().size());
        for (ShapedDocument d : c.documents()) {
            assertEquals(126, d.length());
            assertTrue(text(d).contains("\n\n"));
        }
        assertEquals(Map.of(CorpusSummary.INCOMPLETE_CONCATENATION, 2L), c.summary().skipped());
    }

    @Test
    void concatenationNeverExceedsTheLongestScorableContext(@TempDir Path dir) throws Exception {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 10; i++) b.append(words(30, (char) ('a' + i))).append("\n\n");
        Path f = dir.resolve("paras.txt");
        Files.writeString(f, b.toString());
        CorpusSpec spec = new CorpusSpec(List.of(f.toString()), "text", true, 10, 50, 100, 0, 0);
        // uncapped, joins are 126 tokens (see above); capped at 110 the fourth paragraph is trimmed to 14
        ShapedCorpus c = new DocumentShaper(spec, BYTES).withLongestContext(110).shape(new CorpusReader(spec));
        assertEquals(2, c.documents().size());
        for (ShapedDocument d : c.documents()) assertEquals(110, d.length());
        assertEquals(2L, c.summary().skipped().get(CorpusSummary.TRIMMED_TO_CONTEXT_LIMIT));

        KvgateException e = assertThrows(KvgateException.class, () -> new DocumentShaper(spec, BYTES).withLongestContext(99));
        assertTrue(e.getMessage().contains("concatenate-to 100") && e.getMessage().contains("at most 99"), e.getMessage());
    }

    @Test
    void jsonlWithConfigurableFieldAndMalformedLinesCounted(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("docs.jsonl");
        Files.writeString(f, "{\"body\": \"" + words(20, 'x') + "\", \"id\": 1}\n"
                + "not json at all\n"
                + "\n"
                + "{\"body\": \"" + words(30, 'y') + "\"}\n"
                + "[1, 2]\n");
        ShapedCorpus c = shape(new CorpusSpec(List.of(f.toString()), "body", false, 10, 100, 0, 0, 0));
        assertEquals(2, c.documents().size());
        assertEquals(Map.of(CorpusSummary.MALFORMED_LINE, 2L), c.summary().skipped());
        assertEquals(2, c.summary().problems().size());
        assertTrue(c.summary().problems().get(0).startsWith(f + ":2: malformed JSON"), c.summary().problems().get(0));
        assertTrue(c.summary().problems().get(1).startsWith(f + ":5: not a JSON object"));
    }

    @Test
    void jsonlMissingOrNonStringFieldNamesFileAndLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("docs.jsonl");
        Files.writeString(f, "{\"text\": \"" + words(20, 'x') + "\"}\n{\"content\": \"hello\", \"id\": 2}\n");
        KvgateException e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(f.toString()).withLengths(5, 100)));
        assertEquals(f + ":2: no field 'text' (fields: content, id); set the text field", e.getMessage());

        Files.writeString(f, "{\"text\": 42}\n");
        e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(f.toString()).withLengths(5, 100)));
        assertEquals(f + ":1: field 'text' is number, expected a string", e.getMessage());
    }

    static void writeParquet(Path file, String column, List<String> values) throws Exception {
        MessageType schema = Types.buildMessage()
                .required(PrimitiveTypeName.INT32).named("id")
                .optional(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named(column)
                .named("docs");
        int[] id = {0};
        try (ParquetWriter<String> w = ParquetIo.writer(file, schema, Map.of(), (c, v) -> {
            c.startField("id", 0);
            c.addInteger(id[0]++);
            c.endField("id", 0);
            if (v != null) {
                c.startField(column, 1);
                c.addBinary(Binary.fromString(v));
                c.endField(column, 1);
            }
        }, 1 << 20)) {
            for (String v : values) w.write(v);
        }
    }

    @Test
    void parquetTextColumnReadAndNullsCounted(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("docs.parquet");
        List<String> values = new ArrayList<>(Arrays.asList(words(20, 'p'), null, words(30, 'q'), "short"));
        writeParquet(f, "content", values);
        ShapedCorpus c = shape(CorpusSpec.of(f.toString()).withTextField("content").withLengths(10, 100));
        assertEquals(List.of(words(20, 'p'), words(30, 'q')), c.documents().stream().map(CorpusTest::text).sorted().toList());
        assertEquals(Map.of(CorpusSummary.NULL_CELL, 1L, CorpusSummary.TOO_SHORT, 1L), c.summary().skipped());
        assertTrue(c.documents().get(0).origin().startsWith(f + "["));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"snappy", "zstd", "gzip", "lz4"})
    void parquetWrittenByPyarrowIsReadWhateverItsCompression(String codec, @TempDir Path dir) throws Exception {
        // fixtures: pyarrow 25 write_table(compression=codec): id int64, content string (one null), score double
        Path f = dir.resolve("pyarrow.parquet");
        try (var in = getClass().getResourceAsStream("/fixtures/pyarrow_" + codec + ".parquet")) {
            Files.copy(in, f);
        }
        ShapedCorpus c = shape(CorpusSpec.of(f.toString()).withTextField("content").withLengths(10, 1000));
        List<String> texts = c.documents().stream().map(CorpusTest::text).sorted().toList();
        assertEquals(List.of("Alpha document about rivers and bridges. ".repeat(8), "Beta document on clocks, pendulums and time. ".repeat(8)), texts);
        assertEquals(Map.of(CorpusSummary.NULL_CELL, 1L, CorpusSummary.TOO_SHORT, 1L), c.summary().skipped());
    }

    @Test
    void parquetWithoutTheColumnIsAClearError(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("docs.parquet");
        writeParquet(f, "content", List.of(words(20, 'p')));
        KvgateException e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(f.toString()).withLengths(5, 100)));
        assertEquals(f + ": no column 'text' (columns: id, content); set the text field", e.getMessage());
        e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(f.toString()).withTextField("id").withLengths(5, 100)));
        assertTrue(e.getMessage().contains("expected a string column"), e.getMessage());
    }

    @Test
    void emptyCorpusAndAllTooShortAreErrorsNotEmptyDatasets(@TempDir Path dir) throws Exception {
        Path empty = dir.resolve("empty.jsonl");
        Files.writeString(empty, "");
        KvgateException e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(empty.toString())));
        assertEquals("corpus " + empty + ": empty (no documents found)", e.getMessage());

        Path shortDocs = dir.resolve("short.txt");
        Files.writeString(shortDocs, "tiny\n\nalso tiny\n\n\n");
        e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(shortDocs.toString()).withSplitParagraphs(true)));
        assertEquals("corpus " + shortDocs + ": no usable documents (2 read; skipped: 2 shorter than min tokens; min tokens 200)",
                e.getMessage());

        Path emptyDir = dir.resolve("nothing");
        Files.createDirectories(emptyDir);
        e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(emptyDir.toString())));
        assertTrue(e.getMessage().contains("holds no .txt"), e.getMessage());
        e = assertThrows(KvgateException.class, () -> shape(CorpusSpec.of(dir.resolve("missing").toString())));
        assertTrue(e.getMessage().endsWith("no such file or directory"));
        assertThrows(KvgateException.class, () -> CorpusSpec.of("x").withLengths(500, 100));
    }

    @Test
    void maxDocumentsAndSeedAreDeterministic(@TempDir Path dir) throws Exception {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 20; i++) b.append(words(15 + i, (char) ('a' + i))).append("\n\n");
        Path f = dir.resolve("p.txt");
        Files.writeString(f, b.toString());
        CorpusSpec spec = new CorpusSpec(List.of(f.toString()), "text", true, 10, 100, 0, 8, 42);
        ShapedCorpus one = shape(spec), two = shape(spec);
        assertEquals(8, one.documents().size());
        for (int i = 0; i < 8; i++) assertArrayEquals(one.documents().get(i).tokens(), two.documents().get(i).tokens());
        ShapedCorpus other = shape(spec.withSeed(43));
        boolean differs = false;
        for (int i = 0; i < 8; i++) differs |= !Arrays.equals(one.documents().get(i).tokens(), other.documents().get(i).tokens());
        assertTrue(differs, "another seed gives another order");
    }

    @Test
    void embeddedCorpusFitsTheTinyModel() {
        ShapedCorpus c = shape(CorpusSpec.of(CorpusSource.EMBEDDED_NAME).withLengths(250, 700));
        CorpusSummary s = c.summary();
        assertTrue(s.documentsUsed() >= 60, "embedded documents: " + s.documentsUsed());
        assertTrue(s.tokens() >= 30_000, "embedded tokens: " + s.tokens());
        assertTrue(s.maxLength() <= 700);
        assertTrue(s.skippedTotal() <= s.documentsRead() / 10, "most paragraphs should fit 250-700 bytes: " + s.skipped());
        for (ShapedDocument d : c.documents())
            for (int t : d.tokens()) assertTrue(t < 128, "embedded corpus is ASCII (byte tokenizer)");
    }
}
