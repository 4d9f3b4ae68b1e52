using Csshim.E2E.Rig;

namespace Csshim.E2E;

/// <summary>A container's writes survive what they survive on the runtime underneath. Under Docker a container's
/// rootfs is an overlay2 mount, so csshim restores the archive into it in place: the restored files and the
/// container's later writes live in Docker's layer, where `docker restart`, `docker stop` + `start`, a daemon restart
/// (live-restore off: containers are created anew), `docker diff` and `docker commit` find them. With `upper: tmpfs`
/// the writes are csshim's, in RAM, and a restart starts again from the archive, by design.</summary>
[TestFixture, Category("E2E"), NonParallelizable]
public sealed class DockerPersistenceTests
{
    const string Image = DockerDaemon.Image;
    DockerDaemon _docker = null!;
    string _archive = null!;

    [OneTimeSetUp]
    public void StartDockerd()
    {
        _docker = new DockerDaemon("dpersist", new Dictionary<string, string[]>
        {
            ["csshim"] = ["--network=none", "--allow-rootfs-tar-annotation", "--shim-runtime", E2EEnv.Runsc],
            ["csshim-runc"] = ["--allow-rootfs-tar-annotation", "--shim-runtime", E2EEnv.Runc],
            ["csshim-runc-tmpfs"] = ["--allow-rootfs-tar-annotation", "--shim-upper", "tmpfs", "--shim-runtime", E2EEnv.Runc],
            ["csshim-copy"] = ["--network=none", "--allow-rootfs-tar-annotation", "--shim-restore", "copy", "--shim-runtime", E2EEnv.Runsc],
            ["csshim-runc-copy"] = ["--allow-rootfs-tar-annotation", "--shim-restore", "copy", "--shim-runtime", E2EEnv.Runc],
        });
        // The archive every test restores: a container's /dir/file, snapshotted through csshim.
        var writer = _docker.RunDetached("--runtime=csshim-runc", Image, "sh", "-c", Snapshot.WriterScript);
        Snapshot.WaitFor(() => Docker("exec", writer, "cat", "/dir/file").Stdout.Trim() == "hello", "the writer's /dir/file");
        _archive = _docker.Dir.Sub("snap.tar");
        _docker.TarUpper("csshim-runc", writer, _archive).MustSucceed();
        _docker.Remove(writer);
    }

    [OneTimeTearDown]
    public void StopDockerd() => _docker?.Dispose();

    CmdResult Docker(params string[] args) => _docker.Docker(args);

    /// <summary>A restored container that then writes /later itself; `--stop-timeout 1`: sleep as pid 1 ignores TERM.</summary>
    string StartRestoredWriter(string runtime, params string[] extra)
    {
        var id = _docker.RunDetached(["--runtime=" + runtime, "--stop-timeout", "1", .. extra,
            "--annotation", "dev.gvisor.tar.rootfs.upper=" + _archive, Image, "sh", "-c", "echo new > /later; exec sleep 1000"]);
        Snapshot.WaitFor(() => Read(id, "/later") == "new", $"{id} to write /later");
        return id;
    }

    string Read(string id, string path) => Docker("exec", id, "cat", path).Stdout.Trim();

    /// <summary>Changes the restored file and writes another one, so a restore applied again would show.</summary>
    void WriteBefore(string id, string what) =>
        Docker("exec", id, "sh", "-c", $"echo changed > /dir/file; echo 'written before {what}' > /again").MustSucceed();

    void AssertKept(string id, string after)
    {
        Snapshot.WaitFor(() => Docker("inspect", "-f", "{{.State.Running}}", id).Stdout.Trim() == "true", $"{id} running again after {after}");
        Assert.Multiple(() =>
        {
            Assert.That(Read(id, "/dir/file"), Is.EqualTo("changed"), $"the restored file, changed by the container, after {after}");
            Assert.That(Read(id, "/later"), Is.EqualTo("new"), $"the container's own write after {after}");
            Assert.That(Read(id, "/again"), Is.EqualTo("written before " + after), $"a write made just before {after}");
        });
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void Restart_keeps_the_restored_files_and_the_writes(string runtime)
    {
        var id = StartRestoredWriter(runtime);
        WriteBefore(id, "docker restart");
        Docker("restart", id).MustSucceed();
        AssertKept(id, "docker restart");
        _docker.Remove(id);
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void Stop_then_start_keeps_them(string runtime)
    {
        var id = StartRestoredWriter(runtime);
        WriteBefore(id, "docker stop");
        Docker("stop", id).MustSucceed();
        Docker("start", id).MustSucceed();
        AssertKept(id, "docker stop");
        _docker.Remove(id);
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void A_daemon_restart_re_creates_the_container_with_them(string runtime)
    {
        var id = StartRestoredWriter(runtime, "--restart=always");
        WriteBefore(id, "the daemon restart");
        _docker.Restart();
        AssertKept(id, "the daemon restart");
        _docker.Remove(id);
    }

    [TestCase("csshim-copy")]
    [TestCase("csshim-runc-copy")]
    public void Docker_diff_and_commit_see_them(string runtime)
    {
        var id = StartRestoredWriter(runtime);
        var diff = Docker("diff", id).MustSucceed().Stdout;
        Assert.That(diff, Does.Contain("A /dir/file").And.Contain("A /later"), "docker diff:\n" + diff);
        var committed = "committed-" + runtime;
        Docker("commit", id, committed).MustSucceed();
        _docker.Remove(id);
        // The committed image, run without csshim: the files are in Docker's own layers now.
        var r = Docker("run", "--rm", "--runtime=runc", committed, "cat", "/dir/file", "/later");
        Assert.That(r.Stdout, Is.EqualTo("hello\nnew\n"), r.ToString());
        Docker("rmi", committed);
    }

    [Test]
    public void Tmpfs_mode_starts_again_from_the_archive_on_restart()
    {
        var id = StartRestoredWriter("csshim-runc-tmpfs");
        Assert.That(Docker("diff", id).Stdout, Does.Not.Contain("/later"), "the tmpfs upper is csshim's, not Docker's layer");
        Docker("restart", id).MustSucceed();
        Snapshot.WaitFor(() => Read(id, "/dir/file") == "hello", "the restored file after the restart");
        // The restarted container ran its command again and wrote /later anew; a marker of the first run must be gone.
        Docker("exec", id, "sh", "-c", "echo first-run > /marker").MustSucceed();
        Docker("restart", id).MustSucceed();
        Snapshot.WaitFor(() => Read(id, "/dir/file") == "hello", "the restored file after the second restart");
        Assert.That(Docker("exec", id, "cat", "/marker").ExitCode, Is.Not.Zero, "a write survived a restart in tmpfs mode");
        _docker.Remove(id);
    }

    /// <summary>In place, a container's writes go to Docker's layer on disk; with a tmpfs upper they are shared memory.
    /// Shmem in /proc/meminfo is where tmpfs pages show.</summary>
    [TestCase("csshim-runc", false)]
    [TestCase("csshim-runc-tmpfs", true)]
    public void Writing_1_GiB_costs_RAM_only_in_tmpfs_mode(string runtime, bool inRam)
    {
        var id = StartRestoredWriter(runtime);
        var before = ShmemBytes();
        Docker("exec", id, "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=1024").MustSucceed();
        var grown = ShmemBytes() - before;
        _docker.Remove(id);
        TestContext.Out.WriteLine($"{runtime}: Shmem grew by {grown >> 20} MiB for 1 GiB written");
        if (inRam) Assert.That(grown, Is.GreaterThan(900L << 20), "the tmpfs upper should hold the 1 GiB in RAM");
        else Assert.That(grown, Is.LessThan(128L << 20), "in place, 1 GiB of writes must not go to RAM");
    }

    static long ShmemBytes() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("Shmem:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
