package io.kvgate.trainer.collect;

import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.RepeatPrompts;
import org.junit.jupiter.api.Test;

import static io.kvgate.trainer.collect.ScoringSetupTest.TINY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scoring chunk: "auto" follows the eval oracle's rule per resolved style; numbers are taken as given. */
class ScoringChunkTest {
    @Test
    void parsesAutoAndNumbers() {
        assertNull(ScoringChunk.parse("auto"));
        assertNull(ScoringChunk.parse(" auto "));
        assertEquals(128, ScoringChunk.parse("128"));
        assertEquals(2000, ScoringChunk.parse("2_000"));
        assertEquals(16, ScoringChunk.parse("16"));
        assertEquals("auto", ScoringChunk.format(null));
        assertEquals("512", ScoringChunk.format(512));
    }

    @Test
    void rejectsWordsAndTooSmallChunksSayingWhatIsExpected() {
        IllegalArgumentException words = assertThrows(IllegalArgumentException.class, () -> ScoringChunk.parse("abc"));
        assertEquals(ScoringChunk.EXPECTED + ", got 'abc'", words.getMessage());
        assertTrue(words.getMessage().contains("'auto' (128 for the tiny model, 2000 otherwise)"), words.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class, () -> ScoringChunk.parse("5"));
        assertTrue(small.getMessage().endsWith(">= 16, got 5"), small.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ScoringChunk.parse("-128"));
        assertThrows(IllegalArgumentException.class, () -> ScoringChunk.parse("99999999999"));
    }

    @Test
    void autoResolvesWithTheOraclesRulePerStyle() {
        for (RepeatPrompts.Style s : RepeatPrompts.Style.values()) {
            if (s == RepeatPrompts.Style.AUTO) continue;
            assertEquals(RepeatPrompts.defaultChunk(s), ScoringChunk.resolve(null, s), s.toString());
            assertEquals(300, ScoringChunk.resolve(300, s), "an explicit chunk wins: " + s);
        }
        assertEquals(128, ScoringChunk.resolve(null, RepeatPrompts.Style.TINY));
        assertEquals(2000, ScoringChunk.resolve(null, RepeatPrompts.Style.CHAT));
        assertEquals(2000, ScoringChunk.resolve(null, RepeatPrompts.Style.PLAIN));
    }

    @Test
    void scoringSetupResolvesAutoForTheCheckpointsStyle() {
        try (TextTokenizer t = TextTokenizer.load(TINY)) {
            ScoringSetup tiny = ScoringSetup.resolve(t, ChatTemplate.load(TINY), RepeatPrompts.Style.AUTO, null, null);
            assertEquals(RepeatPrompts.Style.TINY, tiny.style());
            assertEquals(RepeatPrompts.TINY_MODEL_CHUNK, tiny.chunk(null), "the tiny model's teacher scores in its short chunks");
            assertEquals(2000, tiny.chunk(2000));
            ScoringSetup plain = ScoringSetup.resolve(t, ChatTemplate.load(TINY), RepeatPrompts.Style.PLAIN, null, null);
            assertEquals(RepeatPrompts.OFFICIAL_CHUNK, plain.chunk(null), "a forced plain style follows the official chunk");
        }
    }
}
