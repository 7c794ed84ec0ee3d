// What a reviewer reads of others' text (issue 13, finding 11), with the real characters an attacker uses:
// U+202E (right-to-left override), U+200B (zero-width space), C0 and C1 controls, homoglyph names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { displayName, nameKey, shortFingerprint, visibleJson, visibleText } from '../../../core/text/untrusted-text';

const DID = 'did:vaultys:01ef9619f63dc5ccd6ef573d9b110df356a59506';

describe('visibleText', () => {
  test('a right-to-left override cannot reorder a file name: "txt.exe" reads as what it is', () => {
    const name = 'report\u202Eexe.txt';
    assert.equal(visibleText(name), 'report⟨U+202E⟩exe.txt');
  });

  test('zero-width and bidi isolate/embedding characters, BOM and word joiner are shown', () => {
    assert.equal(visibleText('al\u200Bice'), 'al⟨U+200B⟩ice');
    assert.equal(visibleText('\u2066a\u2069\u202Ab\u202C\u200E\u200F\u061C\uFEFF\u2060'), '⟨U+2066⟩a⟨U+2069⟩⟨U+202A⟩b⟨U+202C⟩⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩⟨U+FEFF⟩⟨U+2060⟩');
  });

  test('C0 and C1 controls, DEL, escape sequences and line separators are shown; lineBreaks keeps \\n and \\t only', () => {
    assert.equal(visibleText('a\x00b\x1b[31mc\x7f\x85\x9b\u2028\u2029'), 'a⟨U+0000⟩b⟨U+001B⟩[31mc⟨U+007F⟩⟨U+0085⟩⟨U+009B⟩⟨U+2028⟩⟨U+2029⟩');
    assert.equal(visibleText('line 1\nline\t2\r\n'), 'line 1⟨U+000A⟩line⟨U+0009⟩2⟨U+000D⟩⟨U+000A⟩');
    assert.equal(visibleText('line 1\nline\t2\r\n', { lineBreaks: true }), 'line 1\nline\t2⟨U+000D⟩\n');
  });

  test('astral format characters (tags) and lone surrogates are shown; ordinary text, accents, CJK and emoji are not touched', () => {
    assert.equal(visibleText('a\u{E0041}b\uD800c'), 'a⟨U+E0041⟩b⟨U+D800⟩c');
    const plain = 'Zoë 東京 🙂 ∑ café — ok';
    assert.equal(visibleText(plain), plain);
  });

  test('is idempotent, so the extension and the webview may both apply it', () => {
    const once = visibleText('x\u202Ey');
    assert.equal(visibleText(once), once);
  });
});

describe('names', () => {
  test('nameKey folds case, full-width letters, invisible characters and spacing; a Cyrillic homoglyph stays distinct', () => {
    for (const spoof of ['ALICE', 'ａｌｉｃｅ', 'al\u200Bice', '\u202Ealice', '  alice ', 'ali\u00ADce']) assert.equal(nameKey(spoof), 'alice', JSON.stringify(spoof));
    assert.notEqual(nameKey('\u0430lice'), 'alice');
    assert.equal(nameKey('\u200B\u202E'), '', 'a name of invisible characters only has an empty key');
  });

  test('displayName puts the short fingerprint beside the visible name: homoglyph twins read differently', () => {
    assert.equal(shortFingerprint(DID), '01EF 9619 F63D C5CC');
    assert.equal(displayName('al\u202Eice', DID), 'al⟨U+202E⟩ice (01EF 9619 F63D C5CC)');
    const twin = 'did:vaultys:0133a1ee0b2cf12345678901234567890abcdef0';
    assert.notEqual(displayName('\u0430lice', twin), displayName('alice', DID));
  });
});

describe('visibleJson', () => {
  test('escapes what JSON.stringify leaves raw (U+202E, U+200B, C1), and parses back to the same value', () => {
    const value = { name: 'mallory\u202Eecila', note: 'a\u200Bb\x85', lines: 'x\ny', emoji: '🙂' };
    const text = visibleJson(value);
    assert.doesNotMatch(text, /[\u202E\u200B\x85]/u);
    assert.match(text, /mallory\\u202eecila/);
    assert.deepEqual(JSON.parse(text), value);
    assert.equal(text.split('\n').length, 6, 'pretty-printed: structure lines stay');
  });
});
