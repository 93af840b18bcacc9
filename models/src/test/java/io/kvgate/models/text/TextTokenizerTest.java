package io.kvgate.models.text;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real Qwen3 tokenizer.json (from npm) and the tiny model's byte-level one, through DJL. */
class TextTokenizerTest {
    static final Path TINY = Path.of("..", "checkpoints", "tiny-retrieval-qwen3");
    static TextTokenizer qwen3;

    @BeforeAll
    static void load() {
        qwen3 = TextTokenizer.load(ChatTemplateTest.fixture("qwen3"));
    }

    @AfterAll
    static void close() {
        qwen3.close();
    }

    @Test
    void qwen3LiteralSpecialTokensBecomeTheirIds() {
        int[] ids = qwen3.encode("<|im_start|>user\nHello<|im_end|>");
        // <|im_start|> user \n Hello <|im_end|>
        assertArrayEquals(new int[] {151644, 872, 198, 9707, 151645}, ids);
        assertEquals("<|im_start|>user\nHello<|im_end|>", qwen3.decode(ids, false));
        assertEquals("user\nHello", qwen3.decode(ids, true));
        assertEquals(151644, qwen3.tokenId("<|im_start|>").getAsInt());
        assertEquals(151645, qwen3.tokenId("<|im_end|>").getAsInt());
        assertEquals(9707, qwen3.tokenId("Hello").getAsInt()); // a vocabulary entry, not an added token
        assertTrue(qwen3.tokenId("<|no such token|>").isEmpty());
        assertTrue(qwen3.isSpecial(151645));
        assertFalse(qwen3.isSpecial(9707));
    }

    @Test
    void qwen3SpecialTokensFromTokenizerConfig() {
        assertEquals("<|im_end|>", qwen3.eosToken().orElseThrow());
        assertTrue(qwen3.bosToken().isEmpty()); // Qwen3 has bos_token: null
        assertArrayEquals(new int[] {151645}, qwen3.eosIds());
    }

    @Test
    void qwen3RendersAndEncodesAChatPrompt() {
        String prompt = ChatTemplateTest.qwen3().render(List.of(ChatMessage.user("Hello")), true);
        int[] ids = qwen3.encode(prompt);
        // <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n
        assertArrayEquals(new int[] {151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198}, ids);
        assertEquals(prompt, qwen3.decode(ids, false));
    }

    @Test
    void longTextIsNotTruncated() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 400; i++) sb.append("word").append(i).append(' ');
        String text = sb.toString();
        int[] ids = qwen3.encode(text);
        assertTrue(ids.length > 1000, "expected > 1000 tokens, got " + ids.length);
        assertEquals(text, qwen3.decode(ids, false));
    }

    @Test
    void unicodeRoundTrips() {
        String text = "Grüße, 世界! naïve café — ok";
        assertEquals(text, qwen3.decode(qwen3.encode(text), false));
    }

    @Test
    void tinyTokenizerIsByteLevelAndRoundTripsAPasskeyPrompt() {
        try (TextTokenizer tiny = TextTokenizer.load(TINY)) {
            String prompt = "<|im_start|>The grass is green.\nThe pass key is 48213. Remember it. 48213 is the pass key.\n"
                    + "The sky is blue.<|im_end|>\nWhat is the pass key? The pass key is";
            int[] ids = tiny.encode(prompt);
            int[] expected = expectedTinyIds(prompt);
            assertArrayEquals(expected, ids);
            assertEquals(prompt, tiny.decode(ids, false));
            assertArrayEquals(new int[] {256}, tiny.eosIds());
            assertEquals(256, tiny.bosId().getAsInt()); // generation_config.json's bos_token_id
            assertEquals(258, tiny.tokenId("<|im_end|>").getAsInt());
        }
    }

    /** The tiny tokenizer's ids by its README: byte b is id b; <|im_start|>=257, <|im_end|>=258. */
    private static int[] expectedTinyIds(String prompt) {
        String marked = prompt.replace("<|im_start|>", "\u0001").replace("<|im_end|>", "\u0002");
        return new String(marked.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1).chars()
                .map(c -> c == 1 ? 257 : c == 2 ? 258 : c).toArray();
    }

    @Test
    void missingTokenizerIsAClearError(@TempDir Path dir) {
        KvgateException e = assertThrows(KvgateException.class, () -> TextTokenizer.load(dir));
        assertEquals("tokenizer.json not found in " + dir, e.getMessage());
    }

    @Test
    void corruptTokenizerIsAClearError(@TempDir Path dir) throws Exception {
        java.nio.file.Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"model\": ");
        KvgateException e = assertThrows(KvgateException.class, () -> TextTokenizer.load(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json") + ":"), e.getMessage());
    }
}
