package io.kvgate.trainer.collect;

import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.RepeatPrompt;
import io.kvgate.objectives.RepeatPrompts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Context wrapping and repeat request per checkpoint kind (tiny, chat template, overrides). */
class ScoringSetupTest {
    static final Path TINY = Path.of("../checkpoints/tiny-retrieval-qwen3");

    static String decode(TextTokenizer t, int[] ids) {
        return t.decode(ids, false);
    }

    @Test
    void tinyModelGetsItsTrainedFormat() {
        try (TextTokenizer t = TextTokenizer.load(TINY)) {
            ScoringSetup s = ScoringSetup.resolve(t, ChatTemplate.load(TINY), RepeatPrompts.Style.AUTO, null, null);
            assertArrayEquals(new int[] {257}, s.context().prefix());
            assertArrayEquals(new int[] {258}, s.context().suffix());
            assertEquals(RepeatPrompt.TINY_MODEL_REQUEST, decode(t, s.prompt().request()));
            assertArrayEquals(new int[] {257, 258}, s.prompt().wrapperIds());
            assertEquals("tiny", s.notes().get("context_style"));
        }
    }

    @Test
    void chatTemplateMakesTheDocumentAUserTurnAndTheRepeatTheAnswer(@TempDir Path dir) throws Exception {
        // The tiny byte-level tokenizer with Qwen3's chat template (tokenizer_config.json from Qwen3).
        Files.copy(TINY.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        try (InputStream in = getClass().getResourceAsStream("/chat/qwen3_tokenizer_config.json")) {
            Files.copy(in, dir.resolve("tokenizer_config.json"));
        }
        try (TextTokenizer t = TextTokenizer.load(dir)) {
            ScoringSetup s = ScoringSetup.resolve(t, ChatTemplate.load(dir), RepeatPrompts.Style.AUTO, null, null);
            assertEquals("chat", s.notes().get("context_style"));
            assertEquals("<|im_start|>user\n{text}<|im_end|>\n", s.notes().get("context_template"));
            int[] ctx = s.context().wrap(t.encode("Some text."));
            assertEquals("<|im_start|>user\nSome text.<|im_end|>\n", decode(t, ctx));
            assertEquals("<|im_start|>user\nRepeat the previous context exactly.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                    decode(t, s.prompt().request()));
            assertEquals("<|im_start|>user\n" + RepeatPrompt.CONTINUATION_REQUEST, decode(t, s.prompt().continuationPrefix()));
            assertEquals("<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", decode(t, s.prompt().continuationSuffix()));
            // every wrapper token is in the wrapper set, so the repeated text is the document itself
            for (int id : s.context().prefix()) assertTrue(Arrays.stream(s.prompt().wrapperIds()).anyMatch(w -> w == id));
        }
    }

    @Test
    void overridesWin() {
        try (TextTokenizer t = TextTokenizer.load(TINY)) {
            ScoringSetup s = ScoringSetup.resolve(t, ChatTemplate.load(TINY), RepeatPrompts.Style.AUTO, "Doc: {text}", "\nAgain:\n");
            assertEquals("Doc: ", decode(t, s.context().prefix()));
            assertEquals(0, s.context().suffix().length);
            assertEquals("\nAgain:\n", decode(t, s.prompt().request()));
            assertEquals("tiny", s.notes().get("context_style")); // the request override keeps the style
        }
    }

    @Test
    void explicitPlainStyleUsesTheOfficialRequestWithoutChatTurns() {
        try (TextTokenizer t = TextTokenizer.load(TINY)) {
            ScoringSetup s = ScoringSetup.resolve(t, ChatTemplate.load(TINY), RepeatPrompts.Style.PLAIN, null, null);
            assertEquals(0, s.context().overhead()); // the tiny tokenizer has no BOS
            assertEquals(RepeatPrompt.OFFICIAL_REQUEST, decode(t, s.prompt().request()));
        }
    }
}
