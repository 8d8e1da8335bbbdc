/**
 * The end of a growing text (a build log, a server's output): keeps at most the last `max`
 * characters, trimming in large steps so that appending stays cheap.
 */
export class TextTail {
  text = '';
  constructor(readonly max: number) {}
  add(s: string): void {
    this.text += s;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  tail(n = this.max): string {
    return this.text.slice(-n);
  }
}
