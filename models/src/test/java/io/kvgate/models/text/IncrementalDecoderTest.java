package io.kvgate.models.text;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Streamed pieces must concatenate to the full decode, never showing half a UTF-8 character. */
class IncrementalDecoderTest {

    private static void assertStreams(TextTokenizer tok, String text) {
        int[] ids = tok.encode(text);
        IncrementalDecoder d = new IncrementalDecoder(tok, false);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            String piece = d.push(id);
            assertFalse(piece.contains("\uFFFD"), "piece with a broken character: " + piece);
            sb.append(piece);
        }
        sb.append(d.flush());
        assertEquals(tok.decode(ids, false), sb.toString());
        assertEquals(text, sb.toString());
    }

    @Test
    void byteLevelTinyTokenizerStreamsMultiByteCharacters() {
        try (TextTokenizer tiny = TextTokenizer.load(Path.of("..", "checkpoints", "tiny-retrieval-qwen3"))) {
            assertStreams(tiny, "<|im_start|>Grüße, 世界 — ok.<|im_end|>\n");
        }
    }

    @Test
    void qwen3StreamsWordsAndCjk() {
        try (TextTokenizer qwen3 = TextTokenizer.load(ChatTemplateTest.fixture("qwen3"))) {
            assertStreams(qwen3, "Hello world, 你好世界! Emoji 🙂 and spaces   here.<|im_end|>");
        }
    }
}
