// Unit tests for src/util/secure-join.ts: container paths resolved inside a rootfs must
// never reach outside it, whatever symlinks the image contains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lib from '../dist/lib.js';

const { secureJoin, mkdirAllInRoot, ensureFileInRoot } = lib;

/** Runs fn(root, outside) with a fresh rootfs dir and a sibling "host" dir, then removes both. */
function withRoot(fn) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-securejoin-'));
  const root = path.join(tmp, 'rootfs');
  const outside = path.join(tmp, 'host');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  try {
    fn(root, outside);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Everything under dir, as relative paths, to check nothing was created there. */
function tree(dir) {
  return fs.readdirSync(dir, { recursive: true }).sort();
}

test('plain paths join lexically', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'etc'));
    assert.equal(secureJoin(root, '/etc/hosts'), path.join(root, 'etc/hosts'));
    assert.equal(secureJoin(root, 'etc//./hosts/'), path.join(root, 'etc/hosts'));
    assert.equal(secureJoin(root, '/'), root);
    assert.equal(secureJoin(root, ''), root);
    assert.equal(secureJoin(root + '/', '/a'), path.join(root, 'a'), 'trailing slash on root');
  });
});

test('.. never climbs above the root', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'a/b'), { recursive: true });
    assert.equal(secureJoin(root, '../../../../etc/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(secureJoin(root, '/a/b/../../../../x'), path.join(root, 'x'));
    assert.equal(secureJoin(root, '/a/../a/b/..'), path.join(root, 'a'));
    assert.equal(secureJoin(root, '/missing/../a'), path.join(root, 'a'));
    assert.equal(secureJoin(root, '..'), root);
  });
});

test('an absolute symlink restarts at the root, not at the host /', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.symlinkSync('/etc/passwd', path.join(root, 'passwd'));
    fs.symlinkSync('/etc', path.join(root, 'etclink'));
    fs.symlinkSync('/', path.join(root, 'slash'));
    assert.equal(secureJoin(root, '/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(secureJoin(root, '/etclink/shadow'), path.join(root, 'etc/shadow'));
    assert.equal(secureJoin(root, '/slash/slash/etc'), path.join(root, 'etc'));
  });
});

test('a relative symlink full of .. stays inside', () => {
  withRoot((root, outside) => {
    fs.mkdirSync(path.join(root, 'a/b'), { recursive: true });
    fs.symlinkSync('../../../../../../..' + outside, path.join(root, 'a/b/esc'));
    assert.equal(secureJoin(root, '/a/b/esc/x'), path.join(root, outside, 'x'));
    fs.symlinkSync('../../host', path.join(root, 'up'));
    assert.equal(secureJoin(root, '/up/secret'), path.join(root, 'host/secret'));
  });
});

test('a symlink in the middle of the path is followed inside the root', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
    fs.symlinkSync('usr/lib', path.join(root, 'lib'));
    fs.symlinkSync('../../usr', path.join(root, 'usr/lib/up'));
    assert.equal(secureJoin(root, '/lib/x.so'), path.join(root, 'usr/lib/x.so'));
    assert.equal(secureJoin(root, '/lib/up/lib/y'), path.join(root, 'usr/lib/y'));
    assert.equal(secureJoin(root, '/lib/../bin'), path.join(root, 'usr/bin'), '.. applies to the symlink target');
  });
});

test('a dangling symlink resolves to its target inside the root', () => {
  withRoot((root) => {
    fs.symlinkSync('/etc/nope/file', path.join(root, 'dangling'));
    assert.equal(secureJoin(root, '/dangling'), path.join(root, 'etc/nope/file'));
  });
});

test('symlink loops fail with ELOOP naming the path', () => {
  withRoot((root) => {
    fs.symlinkSync('b', path.join(root, 'a'));
    fs.symlinkSync('a', path.join(root, 'b'));
    fs.symlinkSync('self', path.join(root, 'self'));
    for (const p of ['/a', '/b/x', '/self']) {
      assert.throws(() => secureJoin(root, p), (e) => {
        assert.equal(e.code, 'ELOOP');
        assert.match(e.message, new RegExp(`^${p}: too many levels of symbolic links`));
        return true;
      });
    }
  });
});

test('up to 255 symlinks are followed, 256 are too many', () => {
  withRoot((root) => {
    // l0 → l1 → ... → lN → /target
    const chain = (n) => {
      fs.rmSync(path.join(root, 'c'), { recursive: true, force: true });
      fs.mkdirSync(path.join(root, 'c'));
      for (let i = 0; i < n; i++) {
        fs.symlinkSync(i === n - 1 ? '/target' : `l${i + 1}`, path.join(root, 'c', `l${i}`));
      }
    };
    chain(255);
    assert.equal(secureJoin(root, '/c/l0'), path.join(root, 'target'));
    chain(256);
    assert.throws(() => secureJoin(root, '/c/l0'), { code: 'ELOOP' });
  });
});

test('mkdirAllInRoot creates the missing directories with the exact mode', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'a'));
    const p = mkdirAllInRoot(root, '/a/b/c/d', 0o777);
    assert.equal(p, path.join(root, 'a/b/c/d'));
    assert.ok(fs.statSync(p).isDirectory());
    assert.equal(fs.statSync(p).mode & 0o7777, 0o777, 'the umask does not apply');
    assert.equal(fs.statSync(path.join(root, 'a/b')).mode & 0o7777, 0o777);
    assert.equal(mkdirAllInRoot(root, '/a/b/c/d'), p, 'existing directories are fine');
    assert.equal(mkdirAllInRoot(root, '/'), root);
    const deep = mkdirAllInRoot(root, '/1/2/3/4/5/6/7/8/9/10/11/12');
    assert.ok(fs.statSync(deep).isDirectory());
    assert.equal(fs.statSync(deep).mode & 0o7777, 0o755, 'default mode');
  });
});

test('mkdirAllInRoot follows symlinks inside the root and creates nothing outside', () => {
  withRoot((root, outside) => {
    fs.symlinkSync(outside, path.join(root, 'abs'));
    fs.symlinkSync('../../../../..' + outside, path.join(root, 'rel'));
    fs.symlinkSync(outside + '/made/by/dangling', path.join(root, 'dangling'));
    assert.equal(mkdirAllInRoot(root, '/abs/x/y'), path.join(root, outside, 'x/y'));
    assert.equal(mkdirAllInRoot(root, '/rel/z'), path.join(root, outside, 'z'));
    assert.equal(mkdirAllInRoot(root, '/dangling'), path.join(root, outside, 'made/by/dangling'));
    assert.ok(fs.statSync(path.join(root, outside, 'made/by/dangling')).isDirectory());
    assert.ok(fs.lstatSync(path.join(root, 'dangling')).isSymbolicLink(), 'the symlink itself is left alone');
    assert.deepEqual(tree(outside), [], 'nothing created in the host directory');
  });
});

test('mkdirAllInRoot: a component that is not a directory is an error naming it', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'foo'));
    fs.writeFileSync(path.join(root, 'foo/file'), '');
    fs.symlinkSync('/foo/file', path.join(root, 'tofile'));
    assert.throws(() => mkdirAllInRoot(root, '/foo/file/bar'), (e) => {
      assert.equal(e.code, 'ENOTDIR');
      assert.equal(e.message, '/foo/file/bar: /foo/file is not a directory');
      return true;
    });
    assert.throws(() => mkdirAllInRoot(root, '/foo/file'), { message: '/foo/file: /foo/file is not a directory' });
    assert.throws(() => mkdirAllInRoot(root, '/tofile/x'), { message: '/tofile/x: /foo/file is not a directory' });
    assert.ok(!fs.existsSync(path.join(root, 'foo/file/bar')));
  });
});

test('mkdirAllInRoot gives up on a symlink loop', () => {
  withRoot((root) => {
    fs.symlinkSync('loop', path.join(root, 'loop'));
    assert.throws(() => mkdirAllInRoot(root, '/loop/x'), { code: 'ELOOP' });
  });
});

test('ensureFileInRoot creates the parents and an empty file', () => {
  withRoot((root) => {
    const p = ensureFileInRoot(root, '/etc/resolv.conf');
    assert.equal(p, path.join(root, 'etc/resolv.conf'));
    assert.ok(fs.lstatSync(p).isFile());
    assert.equal(fs.statSync(p).size, 0);
    assert.ok(fs.statSync(path.join(root, 'etc')).isDirectory());
    fs.writeFileSync(p, 'nameserver 10.0.0.1\n');
    assert.equal(ensureFileInRoot(root, '/etc/resolv.conf'), p);
    assert.equal(fs.readFileSync(p, 'utf8'), 'nameserver 10.0.0.1\n', 'an existing file is not truncated');
  });
});

test('ensureFileInRoot accepts other non-directories at the end', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'dev'));
    fs.symlinkSync('/dev/null', path.join(root, 'dev/nul'));
    // /dev/null of the rootfs does not exist: the symlink target is created inside the root
    assert.equal(ensureFileInRoot(root, '/dev/nul'), path.join(root, 'dev/null'));
    assert.ok(fs.lstatSync(path.join(root, 'dev/null')).isFile());
  });
});

test('ensureFileInRoot through a dangling symlink creates the target inside the root', () => {
  withRoot((root, outside) => {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.symlinkSync(outside + '/hostname', path.join(root, 'etc/hostname'));
    fs.symlinkSync('../../../../../..' + outside + '/sub/hosts', path.join(root, 'etc/hosts'));
    assert.equal(ensureFileInRoot(root, '/etc/hostname'), path.join(root, outside, 'hostname'));
    assert.equal(ensureFileInRoot(root, '/etc/hosts'), path.join(root, outside, 'sub/hosts'));
    assert.ok(fs.lstatSync(path.join(root, outside, 'hostname')).isFile());
    assert.ok(fs.lstatSync(path.join(root, outside, 'sub/hosts')).isFile());
    assert.deepEqual(tree(outside), [], 'nothing created in the host directory');
  });
});

test('ensureFileInRoot refuses a directory at the end and a file in the middle', () => {
  withRoot((root) => {
    fs.mkdirSync(path.join(root, 'dir'));
    fs.writeFileSync(path.join(root, 'file'), '');
    assert.throws(() => ensureFileInRoot(root, '/dir'), { code: 'EISDIR', message: '/dir: /dir is a directory' });
    assert.throws(() => ensureFileInRoot(root, '/dir/..'), { code: 'EISDIR' });
    assert.throws(() => ensureFileInRoot(root, '/'), { code: 'EISDIR', message: '/: / is a directory' });
    assert.throws(() => ensureFileInRoot(root, '/file/x'), { code: 'ENOTDIR', message: '/file/x: /file is not a directory' });
  });
});

test('secureJoin of a path under a regular file keeps it lexically', () => {
  withRoot((root) => {
    fs.writeFileSync(path.join(root, 'file'), '');
    assert.equal(secureJoin(root, '/file/x/y'), path.join(root, 'file/x/y'));
  });
});
