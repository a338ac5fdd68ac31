// Markdown highlighting from @lezer/markdown (CommonMark + GFM) without
// @codemirror/lang-markdown, which also bundles the HTML, CSS and
// JavaScript languages for embedded code: about 60% of the editor's
// JavaScript for a feature a plain-text collaborative editor does not need.
import { defineLanguageFacet, Language, LanguageSupport } from "@codemirror/language";
import { GFM, parser } from "@lezer/markdown";

const data = defineLanguageFacet({ commentTokens: { block: { open: "<!--", close: "-->" } } });
const language = new Language(data, parser.configure(GFM), [], "markdown");

export const markdown = () => new LanguageSupport(language);
