import { Component, type ReactNode } from "react";

/// Any render error becomes a message with a way out, never a blank page.
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" className="notice error">
        <h2>Something went wrong</h2>
        <p>{this.state.error.message}</p>
        <p>
          <a href="/docs">Back to documents</a>
        </p>
      </div>
    );
  }
}
