using System.Security.Cryptography;

namespace Csshim.Snapshot.Tests;

/// <summary>
/// What an upper layer can hold besides plain files: hard links, symlinks, FIFOs, owners, modes with setuid,
/// user xattrs and a large file all come back the same after snapshot and restore, seen inside the new
/// container (busybox) and on the host in its staged upper.
/// </summary>
[PerRuntimeAndMode]
public class FileKindsTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private const string Make =
        "set -e; mkdir /k; echo data > /k/orig; ln /k/orig /k/hard; ln -s orig /k/sym; " +
        "echo x > /k/owned; chown 1234:5678 /k/owned; chmod 4755 /k/owned; " +
        "dd if=/dev/urandom of=/k/big bs=1048576 count=8 2>/dev/null";

    // Everything but inode numbers and times, which a restore need not keep.
    private const string Describe =
        "cd /k && for f in orig hard sym owned big; do stat -c '%n %F %a %u:%g links=%h size=%s' $f; done; " +
        "busybox readlink sym; sha256sum big; " +
        "[ $(stat -c %i orig) = $(stat -c %i hard) ] && echo hard-link-shared";

    private const string XattrName = "user.csshim-test";

    [Test]
    public void SpecialFilesOwnersModesXattrsAndBigFiles_SurviveARoundTrip()
    {
        var writer = StartSleeper();
        Exec(writer, Make);
        var before = Exec(writer, Describe);
        // busybox has no setfattr: set it from the host through the staged overlay, as a container write would.
        Host("/usr/bin/setfattr", "-n", XattrName, "-v", "kept", Path.Combine(StagedMerged(writer), "k", "orig"));
        var bigSha = Sha256(Path.Combine(StagedUpper(writer), "k", "big"));
        var archive = Snapshot(writer);
        Delete(writer);

        Assert.That(before, Does.Contain("owned regular file 4755 1234:5678").And.Contain("links=2").And.Contain("hard-link-shared")
            .And.Contain(bigSha), "the writer container itself:\n" + before);
        AssertArchive(ArchiveContents.Read(archive), bigSha);

        var restored = StartRestored(archive);
        Assert.That(Exec(restored, Describe), Is.EqualTo(before), "inside the restored container");
        AssertHostUpper(RestoredFilesOnHost(restored), bigSha);
        if (RestoreUnderTest.Layered)
        {
            Assert.That(StagedLayer(restored), Is.Not.Null, "a restore through the layer cache");
            Assert.That(Directory.Exists(Path.Combine(StagedUpper(restored), "k")), Is.False,
                "the restored files are in the cached layer, not copied into the container's upper");
        }
        Delete(restored);
    }

    /// <summary>A FIFO the container makes is part of its rootfs changes (docs/FORMAT.md: FIFOs are written and read).</summary>
    [Test]
    public void Fifo_SurvivesARoundTrip()
    {
        if (Runtime.IsRunsc)
            Assert.Ignore("runsc keeps a FIFO the container makes in sandbox memory, never on the host rootfs, so no " +
                          "snapshot taken outside the sandbox can see it (README: Limits)");
        var archive = SnapshotAfter("mkfifo /fifo && chmod 640 /fifo");

        var entry = ArchiveContents.Read(archive).GetValueOrDefault("./fifo");
        Assert.That(entry?.Type, Is.EqualTo(System.Formats.Tar.TarEntryType.Fifo), "./fifo in the snapshot: " + entry);
        var restored = RunRestored(archive, "stat -c '%F %a' /fifo");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("fifo 640\n"));
    }

    private static void AssertArchive(Dictionary<string, ArchivedEntry> entries, string bigSha)
    {
        Assert.Multiple(() =>
        {
            Assert.That(entries["./k/hard"].Type, Is.EqualTo(System.Formats.Tar.TarEntryType.HardLink).Or.EqualTo(
                System.Formats.Tar.TarEntryType.RegularFile), "./k/hard");
            var (first, second) = entries["./k/hard"].Type == System.Formats.Tar.TarEntryType.HardLink
                ? ("./k/orig", entries["./k/hard"]) : ("./k/hard", entries["./k/orig"]);
            Assert.That(second.LinkName, Is.EqualTo(first), "the later path links to the first");
            Assert.That(entries["./k/sym"].LinkName, Is.EqualTo("orig"));
            Assert.That((entries["./k/owned"].Uid, entries["./k/owned"].Gid), Is.EqualTo((1234, 5678)));
            Assert.That(entries["./k/owned"].Mode.HasFlag(UnixFileMode.SetUser), Is.True, "setuid of ./k/owned");
            Assert.That(Convert.ToHexStringLower(SHA256.HashData(entries["./k/big"].Data)), Is.EqualTo(bigSha));
            var withXattr = entries["./k/orig"].Type == System.Formats.Tar.TarEntryType.RegularFile ? "./k/orig" : "./k/hard";
            Assert.That(entries[withXattr].Xattr(XattrName), Is.EqualTo("kept"), "xattr record of " + withXattr);
        });
    }

    private static void AssertHostUpper(string upper, string bigSha)
    {
        var k = Path.Combine(upper, "k");
        string Stat(string name) => Host("/usr/bin/stat", "-c", "%F|%a|%u:%g|%h|%i", Path.Combine(k, name)).Trim();
        var (orig, hard) = (Stat("orig").Split('|'), Stat("hard").Split('|'));
        Assert.Multiple(() =>
        {
            Assert.That(orig[4], Is.EqualTo(hard[4]), "orig and hard share an inode in the staged upper");
            Assert.That(orig[3], Is.EqualTo("2"), "link count of orig in the staged upper");
            Assert.That(Stat("owned"), Does.StartWith("regular file|4755|1234:5678|"), "owned: mode and owner");
            Assert.That(new FileInfo(Path.Combine(k, "sym")).LinkTarget, Is.EqualTo("orig"));
            Assert.That(Sha256(Path.Combine(k, "big")), Is.EqualTo(bigSha));
            Assert.That(Host("/usr/bin/getfattr", "--only-values", "-n", XattrName, Path.Combine(k, "orig")), Is.EqualTo("kept"));
        });
    }

    private static string Host(string exe, params string[] args)
    {
        var r = ProcessRunner.Run(exe, args);
        AssertSucceeded(r, exe);
        return r.Stdout;
    }

    private static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }
}
