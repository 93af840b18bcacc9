package io.kvgate.models.text;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.kvgate.models.text.ChatMessage.assistant;
import static io.kvgate.models.text.ChatMessage.system;
import static io.kvgate.models.text.ChatMessage.user;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real Qwen3 and Gemma3 chat templates (tokenizer_config.json from npm), against renderings derived by hand
 * from the template text with transformers' settings (trim_blocks, lstrip_blocks).
 */
class ChatTemplateTest {

    static Path fixture(String name) {
        try {
            return Path.of(ChatTemplateTest.class.getResource("/tokenizers/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static ChatTemplate qwen3() {
        return ChatTemplate.load(fixture("qwen3")).orElseThrow();
    }

    static ChatTemplate gemma3() {
        return ChatTemplate.load(fixture("gemma3")).orElseThrow();
    }

    @Test
    void qwen3SingleUserTurnWithGenerationPrompt() {
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                qwen3().render(List.of(user("Hi")), true));
    }

    @Test
    void qwen3WithoutGenerationPrompt() {
        assertEquals("<|im_start|>user\nHi<|im_end|>\n", qwen3().render(List.of(user("Hi")), false));
    }

    @Test
    void qwen3ThinkingDisabledAppendsEmptyThinkBlock() {
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                qwen3().render(List.of(user("Hi")), true, Map.of("enable_thinking", false)));
        // enable_thinking=true is the default: nothing appended
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                qwen3().render(List.of(user("Hi")), true, Map.of("enable_thinking", true)));
    }

    @Test
    void qwen3SystemAndMultiTurn() {
        String out = qwen3().render(List.of(system("You are helpful."), user("Hi"),
                assistant("Hello! How can I help?"), user("What is 2+2?")), true);
        assertEquals("<|im_start|>system\nYou are helpful.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n", out);
    }

    @Test
    void qwen3ReasoningKeptOnlyAfterTheLastQuery() {
        // split('</think>')[-1].lstrip('\n'), rstrip, split('<think>')[-1], strip('\n')
        String last = qwen3().render(List.of(user("Hi"), assistant("<think>\nreasoning\n</think>\n\nAnswer")), false);
        assertEquals("<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\n<think>\nreasoning\n</think>\n\nAnswer<|im_end|>\n", last);
        // an earlier assistant turn loses its reasoning (loop.index0 <= ns.last_query_index, found via messages[::-1])
        String earlier = qwen3().render(List.of(user("Q1"), assistant("<think>\nr1\n</think>\n\nA1"), user("Q2")), true);
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n"
                + "<|im_start|>assistant\nA1<|im_end|>\n"
                + "<|im_start|>user\nQ2<|im_end|>\n"
                + "<|im_start|>assistant\n", earlier);
    }

    @Test
    void qwen3ToolResponseIsNotTheLastQuery() {
        // .startswith('<tool_response>') and .endswith('</tool_response>') skip this user turn when finding the last
        // query, so the assistant turn before it keeps its reasoning.
        String out = qwen3().render(List.of(user("Q"), assistant("<think>\nr\n</think>\n\nA"),
                user("<tool_response>\nok\n</tool_response>")), false);
        assertEquals("<|im_start|>user\nQ<|im_end|>\n"
                + "<|im_start|>assistant\n<think>\nr\n</think>\n\nA<|im_end|>\n"
                + "<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n", out);
    }

    @Test
    void qwen3ToolsRenderWithPythonJson() {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("type", "object");
        params.put("required", List.of("city"));
        Map<String, Object> fn = new LinkedHashMap<>();
        fn.put("name", "get_weather");
        fn.put("parameters", params);
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("type", "function");
        tool.put("function", fn);
        String out = qwen3().render(List.of(system("Sys."), user("Weather?")), true, Map.of("tools", List.of(tool)));
        assertEquals("<|im_start|>system\nSys.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"required\": [\"city\"]}}}\n"
                + "</tools>\n\nFor each function call, return a json object with function name and arguments within "
                + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n", out);
    }

    @Test
    void gemma3SingleUserTurn() {
        assertEquals("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
                gemma3().render(List.of(user("Hi")), true));
    }

    @Test
    void gemma3SystemFoldsIntoFirstUserTurnAndContentIsTrimmed() {
        String out = gemma3().render(List.of(system("Be brief."), user("  Hi \n"), assistant("Hello."), user("Bye")), true);
        assertEquals("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                + "<start_of_turn>model\nHello.<end_of_turn>\n"
                + "<start_of_turn>user\nBye<end_of_turn>\n"
                + "<start_of_turn>model\n", out);
    }

    @Test
    void gemma3RaisesOnNonAlternatingRoles() {
        KvgateException e = assertThrows(KvgateException.class,
                () -> gemma3().render(List.of(user("a"), user("b")), true));
        assertTrue(e.getMessage().contains("Conversation roles must alternate user/assistant/user/assistant/..."),
                e.getMessage());
    }

    @Test
    void pythonStringMethodsAndSlices() {
        ChatTemplate t = ChatTemplate.of(String.join("|",
                "{{ 'a</think>'.split('</think>')|length }}",          // Python keeps the trailing ''
                "{{ 'empty' if 'a,b,,c'.split(',')[2] == '' else 'no' }}",
                "{{ '  x y  '.split()|join('+') }}",
                "{{ 'x\\n\\n'.rstrip('\\n') }}",
                "{{ 'abc'[::-1] }}",
                "{{ 'abcdef'[1:5:2] }}",
                "{{ [1, 2, 3][::-1]|join(',') }}",
                "{{ 'yes' if 'Hello'.startswith(('x', 'He')) else 'no' }}",
                "{{ 'a-b'.replace('-', '+') }}",
                "{{ 'hi'.upper() }}",
                "{% set ns = namespace(i=[1, 2, 3]|length - 1) %}{{ ns.i }}",
                "{{ {'k': 1}.get('z', 'dflt') }}",
                "{{ '-'.join(['a', 'b']) }}",
                "{{ ['a', 1] }}"), null, null);
        assertEquals("2|empty|x+y|x|cba|bd|3,2,1|yes|a+b|HI|2|dflt|a-b|['a', 1]", t.render(List.of(), false));
    }

    @Test
    void missingTemplateIsEmpty(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        java.nio.file.Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        assertTrue(ChatTemplate.load(dir).isEmpty());
        assertTrue(ChatTemplate.load(dir.resolve("nope")).isEmpty());
    }
}
