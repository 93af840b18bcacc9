package io.kvgate.cli;

import static io.kvgate.cli.CliRun.run;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvgate generate} end to end on the tiny retrieval model, and its bad-input errors. */
class GenerateCommandTest {
    static final String TINY = Path.of("..", "checkpoints", "tiny-retrieval-qwen3").toString();

    /** Exit code 2 and exactly one line on stderr, containing {@code expected}. */
    static void assertBadInput(CliRun r, String expected) {
        assertEquals(2, r.code(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line expected: " + r.err());
        assertTrue(lines[0].startsWith("kvgate: error: ") && lines[0].contains(expected), lines[0]);
    }

    @Test
    void answersPasskeyPrompts() {
        String[][] cases = {
                {"The library stands at the corner of the square, a modest building with tall windows",
                        "and a creaking wooden floor. Its shelves hold histories of the region.", "70315"},
                {"Winter brings storms that roll in from the sea with little warning. Waves break over the harbor wall,",
                        "and the boats stay tied up for days at a time.", "04982"},
        };
        for (String[] c : cases) {
            String key = c[2];
            String prompt = "<|im_start|>" + c[0] + "\nThe pass key is " + key + ". Remember it. " + key
                    + " is the pass key.\n" + c[1] + "<|im_end|>\nWhat is the pass key? The pass key is";
            CliRun r = run("generate", "--model", TINY, "--prompt", prompt, "--max-new-tokens", "8");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith(" " + key + "."), "answer: [" + r.out() + "]");
        }
    }

    @Test
    void idsInputAndShowIds() {
        // "<|im_start|>The pass key is 12345. Remember it. 12345 is the pass key.\n<|im_end|>\nWhat is the pass key? The pass key is"
        String text = "The pass key is 12345. Remember it. 12345 is the pass key.\n";
        String query = "\nWhat is the pass key? The pass key is";
        StringBuilder ids = new StringBuilder("257");
        for (byte b : text.getBytes(StandardCharsets.US_ASCII)) ids.append(',').append(b);
        ids.append(",258");
        for (byte b : query.getBytes(StandardCharsets.US_ASCII)) ids.append(',').append(b);
        CliRun r = run("generate", "--model", TINY, "--ids", ids.toString(), "--max-new-tokens", "7", "--show-ids");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        assertTrue(lines[0].startsWith(" 12345."), r.out());
        // the ids line is the generated ids: " 12345." is 32,49,50,51,52,53,46 in the byte-level vocabulary
        assertTrue(lines[lines.length - 1].startsWith("32,49,50,51,52,53,46"), r.out());
    }

    @Test
    void chatRendersSystemAndUserTurnsWithTheCheckpointTemplate(@TempDir Path dir) throws Exception {
        for (String f : new String[] {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"}) {
            Files.copy(Path.of(TINY, f), dir.resolve(f));
        }
        // A template that turns (system, user) into the tiny model's passkey format: the answer proves both turns and
        // add_generation_prompt reached the prompt.
        String template = "<|im_start|>{% for m in messages %}{{ m['content'] }}{% if not loop.last %}\n{% endif %}"
                + "{% endfor %}<|im_end|>{% if add_generation_prompt %}\nWhat is the pass key? The pass key is{% endif %}";
        Files.writeString(dir.resolve("tokenizer_config.json"), new com.fasterxml.jackson.databind.ObjectMapper()
                .writeValueAsString(java.util.Map.of("eos_token", "<|endoftext|>", "chat_template", template)));
        CliRun r = run("generate", "--model", dir.toString(), "--chat",
                "--system", "The sky over the harbor is grey.\nThe pass key is 31415. Remember it. 31415 is the pass key.",
                "--prompt", "Boats leave before dawn, and the gulls claim the pier.", "--max-new-tokens", "7");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(" 31415."), "answer: [" + r.out() + "]");
    }

    @Test
    void needsExactlyOneInput() {
        assertBadInput(run("generate", "--model", TINY), "exactly one of --prompt TEXT or --ids LIST");
        assertBadInput(run("generate", "--model", TINY, "--prompt", "x", "--ids", "1"), "exactly one of --prompt TEXT or --ids LIST");
        assertBadInput(run("generate", "--model", TINY, "--ids", "1", "--chat"), "--chat needs --prompt");
    }

    @Test
    void badIds() {
        assertBadInput(run("generate", "--model", TINY, "--ids", "1,x,3"), "'x' is not a token id");
        assertBadInput(run("generate", "--model", TINY, "--ids", "1,264"), "token id 264 is outside the model's vocabulary [0, 264)");
    }

    @Test
    void chatNeedsATemplate() {
        assertBadInput(run("generate", "--model", TINY, "--prompt", "hi", "--chat"), "has no chat template");
    }

    @Test
    void promptNeedsATokenizer(@TempDir Path dir) throws Exception {
        for (String f : new String[] {"config.json", "model.safetensors", "generation_config.json"}) {
            Files.copy(Path.of(TINY, f), dir.resolve(f));
        }
        assertBadInput(run("generate", "--model", dir.toString(), "--prompt", "hi"), "tokenizer.json not found in " + dir);
    }
}
