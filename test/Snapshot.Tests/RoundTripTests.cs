namespace Csshim.Snapshot.Tests;

/// <summary>
/// The documented flow (README): a container writes /dir/file, `csshim tar rootfs-upper` snapshots it
/// while it runs, and a new container started with dev.gvisor.tar.rootfs.upper prints the file back.
/// </summary>
[PerRuntimeAndMode]
public class RoundTripTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private const UnixFileMode Mode0644 = (UnixFileMode)0b110_100_100;

    [Test]
    public void SnapshotToFile_RestoresInANewContainer()
    {
        var archive = HelloWorldSnapshot();

        var entries = ArchiveContents.Read(archive);
        Assert.That(entries.Keys, Does.Contain("./").And.Contain("./dir/").And.Contain("./dir/file"));
        Assert.That(entries["./dir/file"].Text, Is.EqualTo("hello world\n"));
        var restored = RunRestored(archive, "cat /dir/file");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("hello world\n"));
    }

    [Test]
    public void SnapshotToStdout_IsTheSameArchive()
    {
        var id = StartSleeper();
        Exec(id, WriteHello);
        var archive = SnapshotPath("stdout.tar");
        // csshim's fd 1 is the archive file itself, as with `csshim tar rootfs-upper ID > F`.
        var r = ShimThroughShell($"exec >'{archive}'", "tar", "rootfs-upper", id);
        AssertSucceeded(r, "csshim tar rootfs-upper to stdout");
        Delete(id);

        Assert.That(ArchiveContents.Read(archive)["./dir/file"].Text, Is.EqualTo("hello world\n"));
        Assert.That(RunRestored(archive, "cat /dir/file").Stdout, Is.EqualTo("hello world\n"));
    }

    [TestCase("gzip", new byte[] { 0x1f, 0x8b })]
    [TestCase("zstd", new byte[] { 0x28, 0xb5, 0x2f, 0xfd })]
    public void CompressedSnapshot_Restores(string compression, byte[] magic)
    {
        var archive = HelloWorldSnapshot("snap.tar." + compression, "--compress", compression);

        Assert.That(ArchiveContents.Head(archive, magic.Length), Is.EqualTo(magic), $"{compression} magic of {archive}");
        Assert.That(ArchiveContents.Read(archive)["./dir/file"].Text, Is.EqualTo("hello world\n"));
        var restored = RunRestored(archive, "cat /dir/file");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("hello world\n"));
    }

    [Test]
    public void PausedSnapshot_LeavesTheContainerRunning()
    {
        var id = StartSleeper();
        Exec(id, WriteHello);
        var archive = Snapshot(id, "paused.tar", "--pause");

        WaitForStatus(Cli, id, "running");
        Assert.That(Exec(id, "echo alive"), Is.EqualTo("alive\n"), "the container runs on after a paused snapshot");
        Delete(id);
        Assert.That(RunRestored(archive, "cat /dir/file").Stdout, Is.EqualTo("hello world\n"));
    }

    [Test]
    public void ArchiveFile_IsMode0644AndReplacedWhole()
    {
        var archive = SnapshotPath("existing.tar");
        // A bigger, private file under that name: the snapshot must neither keep its tail nor its mode.
        var garbage = Enumerable.Repeat((byte)'G', 4 << 20).ToArray();
        File.WriteAllBytes(archive, garbage);
        File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var id = StartSleeper();
        Exec(id, WriteHello);
        // runsc creates the file 0644 whatever the caller's umask.
        AssertSucceeded(ShimThroughShell("umask 077", "tar", "rootfs-upper", "--file", archive, id), "snapshot under umask 077");
        Delete(id);

        var bytes = File.ReadAllBytes(archive);
        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(archive), Is.EqualTo(Mode0644), "archive mode");
            Assert.That(bytes.Length, Is.LessThan(garbage.Length), "the old file's tail survived");
            Assert.That(bytes.AsSpan().IndexOf("GGGGGGGG"u8), Is.EqualTo(-1), "old content inside the new archive");
            Assert.That(ArchiveContents.Read(archive)["./dir/file"].Text, Is.EqualTo("hello world\n"));
        });
    }

    /// <summary>The spec the runtime gets: in tmpfs mode root.path is csshim's overlay and csshim records its keys;
    /// in place root.path stays the engine's rootfs and csshim adds nothing. Either way the archive keys are gone,
    /// and delete puts the caller's config.json back byte for byte.</summary>
    [Test]
    public void StagedConfig_AndIsPutBackByteForByte()
    {
        var archive = HelloWorldSnapshot();
        var bundle = Bundle("exec sleep 1000", (UpperKey, archive), (UpperKey + ".other", archive));
        var original = File.ReadAllBytes(bundle.ConfigPath);
        var rootfs = (string)bundle.Root["path"]!;
        var id = StartContainer(bundle, AllowFlag);

        var staged = bundle.ReadConfigFromDisk();
        var annotations = (JObject)staged["annotations"]!;
        Assert.Multiple(() =>
        {
            if (InPlace)
            {
                Assert.That((string?)staged["root"]!["path"], Is.EqualTo(rootfs), "root.path of an engine's rootfs");
                Assert.That(annotations.Properties().Select(p => p.Name).Where(k => k.StartsWith("dev.csshim.", StringComparison.Ordinal)),
                    Is.Empty, "csshim's keys in an in-place spec");
            }
            else
            {
                Assert.That((string?)annotations["dev.csshim.rootfs.original"], Is.EqualTo(Lower));
                Assert.That((string?)annotations["dev.csshim.staging"], Is.EqualTo(StageDir(id)));
                Assert.That((string?)annotations["dev.csshim.tar.rootfs.upper"], Is.EqualTo(archive), "the restored archive");
                Assert.That((string?)staged["root"]!["path"], Is.EqualTo(StagedMerged(id)));
            }
            Assert.That(annotations.Properties().Select(p => p.Name).Where(k => k.StartsWith(UpperKey, StringComparison.Ordinal)),
                Is.Empty, "dev.gvisor.tar.rootfs.upper* keys forwarded to the runtime");
            Assert.That(Exec(id, "cat /dir/file"), Is.EqualTo("hello world\n"));
        });

        Delete(id);
        Assert.That(File.ReadAllBytes(bundle.ConfigPath), Is.EqualTo(original), "config.json after delete");
        Assert.That(CsshimMounts(), Is.Empty, "mounts after delete");
    }

    [Test]
    public void DeleteTwice_IsLikeTheRuntimesDeleteOfAnUnknownId()
    {
        var id = StartSleeper();
        Delete(id);
        var again = Cli.Run("delete", "--force", id);
        var direct = Direct().Run("delete", "--force", "never-created");

        Assert.Multiple(() =>
        {
            Assert.That(again.ExitCode, Is.EqualTo(direct.ExitCode), $"second delete: {again}\nruntime: {direct}");
            Assert.That(again.Stderr, Does.Not.Contain("csshim:"), "csshim complained about a second delete");
            Assert.That(StagedContainers(Cli), Is.Empty, "staging after two deletes");
            Assert.That(CsshimMounts(), Is.Empty, "mounts after two deletes");
        });
    }

    [Test]
    public void ForegroundRun_UnstagesAtExit()
    {
        var archive = HelloWorldSnapshot();
        var bundle = Bundle("cat /dir/file", (UpperKey, archive));
        var original = File.ReadAllBytes(bundle.ConfigPath);
        var id = NewId(Cli, "fg");
        var r = Cli.RunWithGlobals(new[] { AllowFlag }, "run", "--bundle", bundle.Dir, id);

        AssertSucceeded(r, "foreground run");
        Assert.Multiple(() =>
        {
            Assert.That(r.Stdout, Is.EqualTo("hello world\n"));
            Assert.That(CsshimMounts(), Is.Empty, "mounts after the run exited");
            Assert.That(StagedContainers(Cli), Is.Empty, "staging after the run exited");
            Assert.That(File.ReadAllBytes(bundle.ConfigPath), Is.EqualTo(original), "config.json after the run");
        });
    }
}
