// The rendered Markdown, sanitised: marked renders, DOMPurify removes every
// script, event handler and javascript: URL before it reaches the page.
// Loaded only when the preview is opened.
import { useDeferredValue, useMemo } from "react";
import { marked } from "marked";
import DOMPurify from "dompurify";

export default function Preview({ text }: { text: string }) {
  const deferred = useDeferredValue(text);
  const html = useMemo(
    () => DOMPurify.sanitize(marked.parse(deferred, { async: false, gfm: true }) as string),
    [deferred],
  );
  return <div className="preview markdown-body" dangerouslySetInnerHTML={{ __html: html }} />;
}
