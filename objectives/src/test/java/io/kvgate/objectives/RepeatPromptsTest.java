package io.kvgate.objectives;

import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RepeatPromptsTest {
    @Test
    void tinyModelGetsItsTrainedRequestAndWrappers() {
        Path dir = Path.of("../checkpoints/tiny-retrieval-qwen3");
        try (TextTokenizer tok = TextTokenizer.load(dir)) {
            RepeatPrompt p = RepeatPrompts.forModel(tok, ChatTemplate.load(dir), RepeatPrompts.Style.AUTO, null);
            assertArrayEquals(tok.encode("\nRepeat the previous context:\n"), p.request());
            assertArrayEquals(new int[] {257, 258}, p.wrapperIds());
        }
    }

    @Test
    void chatModelsRepeatAsTheAssistant() {
        Path dir = Path.of("../models/src/test/resources/tokenizers/qwen3");
        try (TextTokenizer tok = TextTokenizer.load(dir)) {
            Optional<ChatTemplate> template = ChatTemplate.load(dir);
            RepeatPrompt p = RepeatPrompts.forModel(tok, template, RepeatPrompts.Style.AUTO, null);
            String request = tok.decode(p.request(), false);
            assertEquals("<|im_start|>user\nRepeat the previous context exactly.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", request);
            String later = tok.decode(io.kvgate.models.util.IntArrays.concat(p.continuationPrefix(), tok.encode("QUOTED"), p.continuationSuffix()), false);
            assertEquals("<|im_start|>user\nRepeat the part of the previous context exactly, starting with QUOTED<|im_end|>\n"
                    + "<|im_start|>assistant\n<think>\n\n</think>\n\n", later);
            assertEquals(0, p.wrapperIds().length, Arrays.toString(p.wrapperIds()));
        }
    }

    @Test
    void theTinyModelIsScoredInChunksWithinItsTrainedRepeatsOthersInTheOfficialChunks() {
        Path tiny = Path.of("../checkpoints/tiny-retrieval-qwen3"), chat = Path.of("../models/src/test/resources/tokenizers/qwen3");
        try (TextTokenizer t = TextTokenizer.load(tiny); TextTokenizer c = TextTokenizer.load(chat)) {
            RepeatPrompts.Style tinyStyle = RepeatPrompts.resolveStyle(t, ChatTemplate.load(tiny), RepeatPrompts.Style.AUTO);
            RepeatPrompts.Style chatStyle = RepeatPrompts.resolveStyle(c, ChatTemplate.load(chat), RepeatPrompts.Style.AUTO);
            assertEquals(128, RepeatPrompts.defaultChunk(tinyStyle));
            assertEquals(2000, RepeatPrompts.defaultChunk(chatStyle));
            assertEquals(2000, RepeatPrompts.defaultChunk(RepeatPrompts.Style.PLAIN));
        }
        assertThrows(IllegalArgumentException.class, () -> RepeatPrompts.defaultChunk(RepeatPrompts.Style.AUTO));
    }
}
