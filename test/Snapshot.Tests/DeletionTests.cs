using Csshim.Snapshot.Tests.Support;
using Csshim.Tests.Rig;
using NUnit.Framework;

namespace Csshim.Snapshot.Tests;

/// <summary>Deletions of lower-layer (image) content survive a snapshot as overlay whiteouts and opaque dirs.</summary>
[TestFixtureSource(typeof(RuntimeUnderTest), nameof(RuntimeUnderTest.Names))]
[NonParallelizable]
public class DeletionTests : SnapshotFixture
{
    public DeletionTests(string runtime) : base(runtime) { }

    [Test]
    public void RemovedLowerFile_IsAbsentAfterRestore()
    {
        LowerFile("data/gone", "old\n");
        LowerFile("data/kept", "kept\n");
        var id = StartSleeper();
        Exec(id, "rm /data/gone");
        var archive = Snapshot(id);
        Delete(id);

        var whiteout = ArchiveContents.Read(archive).GetValueOrDefault("./data/gone");
        Assert.That(whiteout, Is.Not.Null, "no entry for the deleted file");
        Assert.That(whiteout!.IsWhiteout, Is.True, $"./data/gone should be a char 0/0 whiteout, is {whiteout}");
        var restored = RunRestored(archive, "ls -A /data");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("kept\n"));
    }

    [Test]
    public void RecreatedLowerDir_ShowsOnlyItsNewContent()
    {
        LowerFile("ldir/a", "a\n");
        LowerFile("ldir/sub/b", "b\n");
        var id = StartSleeper();
        Exec(id, "rm -rf /ldir && mkdir /ldir && echo only > /ldir/only");
        var archive = Snapshot(id);
        Delete(id);

        var entries = ArchiveContents.Read(archive);
        Assert.That(entries.GetValueOrDefault("./ldir/")?.Xattr("trusted.overlay.opaque"), Is.EqualTo("y"),
            "the recreated dir should be opaque in the archive");
        var restored = RunRestored(archive, "ls -A /ldir && cat /ldir/only");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("only\nonly\n"));
    }

    [Test]
    public void EveryWhiteout_IsItsOwnEntry_NotAHardLink()
    {
        foreach (var name in new[] { "w1", "w2", "w3" }) LowerFile("many/" + name, name);
        var id = StartSleeper();
        Exec(id, "rm /many/w1 /many/w2 /many/w3");
        var archive = Snapshot(id);
        Delete(id);

        var entries = ArchiveContents.Read(archive);
        Assert.Multiple(() =>
        {
            foreach (var name in new[] { "./many/w1", "./many/w2", "./many/w3" })
                Assert.That(entries.GetValueOrDefault(name)?.IsWhiteout, Is.True, $"{name}: {entries.GetValueOrDefault(name)}");
        });
        Assert.That(RunRestored(archive, "ls -A /many").Stdout, Is.Empty);
    }

    /// <summary>FORMAT.md: runsc skips, on write, xattrs whose value is not valid UTF-8. A deletion makes overlayfs
    /// put binary bookkeeping (trusted.overlay.origin, .uuid) on the upper's dirs; they must not reach the archive
    /// as raw bytes.</summary>
    [Test]
    public void XattrValues_AreValidUtf8_AsRunscWritesThem()
    {
        LowerFile("data/gone", "old\n");
        var id = StartSleeper();
        Exec(id, "rm /data/gone");
        var archive = Snapshot(id);
        Delete(id);

        var strict = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var binary = ArchiveContents.Read(archive).Values
            .SelectMany(e => e.Pax.Where(r => r.Key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)).Select(r => (e.Name, r.Key, r.Value)))
            .Where(r => { try { strict.GetString(r.Value); return false; } catch (ArgumentException) { return true; } })
            .Select(r => $"{r.Name} {r.Key}").ToList();
        Assert.That(binary, Is.Empty, "PAX xattr records with values that are not UTF-8");
    }
}
