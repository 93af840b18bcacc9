package io.kvgate.objectives;

import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
            String later = tok.decode(RepeatPrompt.concat(p.continuationPrefix(), tok.encode("QUOTED"), p.continuationSuffix()), false);
            assertEquals("<|im_start|>user\nRepeat the part of the previous context exactly, starting with QUOTED<|im_end|>\n"
                    + "<|im_start|>assistant\n<think>\n\n</think>\n\n", later);
            assertEquals(0, p.wrapperIds().length, Arrays.toString(p.wrapperIds()));
        }
    }
}
