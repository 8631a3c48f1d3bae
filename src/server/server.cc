// walrep: the Server object (see server.h).
#include "walrep/server/server.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include "listener_internal.h"
#include "session_internal.h"
#include "walrep/common/config_file.h"
#include "walrep/common/logging.h"
#include "walrep/common/strings.h"
#include "walrep/common/thread_name.h"
#include "walrep/protocol/auth.h"
#include "walrep/replication/rewind.h"
#include "walrep/wal/archive_status.h"

namespace walrep::server {

namespace {

// recovery_prefetch, wal_decode_buffer_size and maintenance_io_concurrency.
storage::RecoveryPrefetcher::Config PrefetchConfig(const ServerSettings& s) {
  storage::RecoveryPrefetcher::Config c;
  c.enabled = s.GetString("recovery_prefetch") != "off";  // on and try: posix_fadvise exists
  c.distance_bytes = static_cast<uint64_t>(s.GetInt("wal_decode_buffer_size"));
  c.max_io = static_cast<int>(s.GetInt("maintenance_io_concurrency"));
  return c;
}

}  // namespace

void BackendInfo::Interrupt() {
  uint64_t one = 1;
  if (::write(interrupt_fd, &one, sizeof(one)) < 0) {
    // eventfd writes fail only on counter overflow, which still leaves it readable.
  }
}

void BackendInfo::ClearInterrupt() {
  uint64_t v;
  while (::read(interrupt_fd, &v, sizeof(v)) > 0) {
  }
}

Server::Server(ServerOptions opts)
    : opts_(std::move(opts)), fs_(opts_.fs ? opts_.fs : io::DefaultFileSystem()) {
  roles_ = std::make_unique<RoleStore>(fs_, opts_.data_dir + "/global/walrep_roles");
  RegisterViews();
  RegisterWalFunctions();
  replication::RegisterReplicationViews(&registry_, &repl_env_);
}

Server::~Server() {
  if (listener_) listener_->Stop();
}

std::string Server::ConfigPath(const std::string& name) const {
  return opts_.data_dir + "/" + name;
}

Status Server::LoadConfig(std::shared_ptr<const ServerSettings>* out) const {
  WALREP_ASSIGN_OR_RETURN(auto items, ParseConfigFile(ConfigPath("postgresql.conf")));
  WALREP_ASSIGN_OR_RETURN(auto autos, ParseConfigFile(ConfigPath("postgresql.auto.conf"), true));
  items.insert(items.end(), autos.begin(), autos.end());
  auto built = ServerSettings::Build(items, opts_.argv);
  if (!built.ok()) return built.TakeStatus();
  auto s = std::const_pointer_cast<ServerSettings>(*built);
  std::string abs = std::filesystem::absolute(opts_.data_dir).lexically_normal().string();
  if (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  s->SetInternal("data_directory", abs);
  s->SetInternal("config_file", abs + "/postgresql.conf");
  s->SetInternal("hba_file", abs + "/pg_hba.conf");
  s->SetInternal("ident_file", abs + "/pg_ident.conf");
  if (in_recovery()) {
    // A hot standby: libpq's target_session_attrs tells it from a primary by these.
    s->SetInternal("in_hot_standby", "on");
    s->SetInternal("default_transaction_read_only", "on");
  }
  *out = s;
  return Status::OK();
}

Status Server::LoadHba(std::shared_ptr<const protocol::HbaConfig>* out) const {
  std::string path = ConfigPath("pg_hba.conf");
  WALREP_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(path));
  WALREP_ASSIGN_OR_RETURN(*out, protocol::HbaConfig::Parse(text, path));
  return Status::OK();
}

Status Server::LoadSsl(const ServerSettings& s, std::shared_ptr<SSL_CTX>* out) const {
  out->reset();
  if (!s.GetBool("ssl")) return Status::OK();
  auto resolve = [&](const std::string& f) { return f.empty() || f[0] == '/' ? f : ConfigPath(f); };
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return Status::IOError("could not create SSL context");
  std::string minv = s.GetString("ssl_min_protocol_version");
  int ver = minv == "TLSv1.3"   ? TLS1_3_VERSION
            : minv == "TLSv1.1" ? TLS1_1_VERSION
            : minv == "TLSv1"   ? TLS1_VERSION
                                : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx.get(), ver);
  std::string cert = resolve(s.GetString("ssl_cert_file"));
  std::string key = resolve(s.GetString("ssl_key_file"));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    ERR_clear_error();
    return Status::IOError(fmt::format("could not load server certificate file \"{}\"", cert));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    ERR_clear_error();
    return Status::IOError(fmt::format("could not load private key file \"{}\"", key));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return Status::IOError(
        fmt::format("check of private key failed: key \"{}\" does not match certificate", key));
  }
  std::string ciphers = s.GetString("ssl_ciphers");
  if (!ciphers.empty()) SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str());
  *out = ctx;
  return Status::OK();
}

Status Server::Start() {
  start_time_ = NowTimestamp();
  std::shared_ptr<const ServerSettings> settings;
  if (!fs_->Exists(ConfigPath("postgresql.conf")) && !fs_->Exists(ConfigPath("PG_VERSION"))) {
    return Status::InvalidArgument(
               fmt::format("\"{}\" is not a valid data directory", opts_.data_dir))
        .WithDetail(fmt::format("File \"{}\" is missing.", ConfigPath("postgresql.conf")));
  }
  WALREP_RETURN_IF_ERROR(LoadConfig(&settings));
  std::shared_ptr<const protocol::HbaConfig> hba;
  WALREP_RETURN_IF_ERROR(LoadHba(&hba));
  std::shared_ptr<SSL_CTX> ssl;
  WALREP_RETURN_IF_ERROR(LoadSsl(*settings, &ssl));
  if (settings->GetBool("walrep.auto_rewind") && fs_->Exists(ConfigPath("standby.signal"))) {
    AutoRewind(*settings);
  }
  WALREP_ASSIGN_OR_RETURN(storage::ControlFileData control,
                          storage::ReadControlFile(fs_, opts_.data_dir));
  WALREP_RETURN_IF_ERROR(storage::CheckWalrepCatalogVersion(fs_, opts_.data_dir));
  mock_nonce_.assign(reinterpret_cast<const char*>(control.mock_authentication_nonce),
                     sizeof(control.mock_authentication_nonce));
  {
    auto s = std::const_pointer_cast<ServerSettings>(settings);
    s->SetInternal("data_checksums", control.data_checksum_version ? "on" : "off");
  }
  {
    MutexLock l(&mu_);
    settings_ = settings;
    hba_ = hba;
    ssl_ctx_ = ssl;
  }
  port_ = static_cast<int>(settings->GetInt("port"));
  RemoveTempFiles();
  pid_file_ = std::make_unique<PidFile>(opts_.data_dir);
  WALREP_RETURN_IF_ERROR(pid_file_->Create(port_, "", ""));
  listener_ = std::make_unique<Listener>(this);
  Status st = listener_->Open(settings->GetString("listen_addresses"), port_,
                              settings->GetString("unix_socket_directories"));
  if (!st.ok()) {
    listener_->Stop();
    pid_file_->Remove();
    return st;
  }
  // Rewrite the pid file with the socket directory and address now that they are known.
  pid_file_->Remove();
  WALREP_RETURN_IF_ERROR(
      pid_file_->Create(port_, listener_->first_socket_dir(), listener_->first_address()));
  // Accept connections during recovery so clients hear 57P03 rather than nothing.
  listener_->StartAccepting();
  if (control.state == static_cast<uint32_t>(storage::DbState::kShutdowned)) {
    WALREP_LOG("database system was shut down at {}",
               FormatTimestampTz((control.time - kPgEpochUnixSeconds) * 1000000, 0));
  } else {
    WALREP_LOG("database system was interrupted; last known up at {}",
               FormatTimestampTz((control.time - kPgEpochUnixSeconds) * 1000000, 0));
  }
  access::EngineOptions eo;
  storage::XLogOptions& xo = eo.xlog;
  xo.fs = fs_;
  xo.data_dir = opts_.data_dir;
  xo.fsync = settings->GetBool("fsync");
  xo.wal_buffers = static_cast<size_t>(settings->GetInt("wal_buffers")) * 8192;
  xo.wal_writer_delay = std::chrono::milliseconds(settings->GetInt("wal_writer_delay"));
  xo.wal_init_zero = settings->GetBool("wal_init_zero");
  xo.full_page_writes = settings->GetBool("full_page_writes");
  xo.wal_keep_bytes = static_cast<uint64_t>(settings->GetInt("wal_keep_size")) << 20;
  xo.min_wal_bytes = static_cast<uint64_t>(settings->GetInt("min_wal_size")) << 20;
  xo.max_wal_bytes = static_cast<uint64_t>(settings->GetInt("max_wal_size")) << 20;
  xo.checkpoint_completion_target = std::stod(settings->GetString("checkpoint_completion_target"));
  xo.log_checkpoints = settings->GetBool("log_checkpoints");
  eo.shared_buffers = static_cast<size_t>(settings->GetInt("shared_buffers"));
  eo.checksums = control.data_checksum_version != 0;
  standby_ = fs_->Exists(ConfigPath("standby.signal"));
  // Archive recovery (PITR): recovery.signal alone. It runs as a standby that never streams and
  // ends at its target or the end of the archive (standby.signal wins when both exist).
  archive_recovery_ = !standby_ && fs_->Exists(ConfigPath("recovery.signal"));
  if (archive_recovery_) standby_ = true;
  eo.standby = standby_;
  eo.wal_consistency_checking = settings->GetString("wal_consistency_checking");
  eo.recovery_workers = static_cast<int>(settings->GetInt("walrep.recovery_workers"));
  if (eo.recovery_workers == 0) {
    eo.recovery_workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  eo.prefetch = PrefetchConfig(*settings);
  eo.xlog.archive_recovery = archive_recovery_;
  eo.xlog.recovery_target_timeline = settings->GetString("recovery_target_timeline");
  if (standby_) {
    WALREP_ASSIGN_OR_RETURN(eo.xlog.recovery_target,
                            storage::RecoveryTarget::FromSettings(
                                [&](const char* name) { return settings->GetString(name); }));
    if (archive_recovery_ && settings->GetString("restore_command").empty()) {
      return Status::Sql("22023", "must specify restore_command when standby mode is not enabled")
          .WithSeverity(Severity::kFatal);
    }
  }
  const std::string archive_mode = settings->GetString("archive_mode");
  if (archive_mode != "off") {
    replication::ArchiverOptions ao;
    ao.fs = fs_;
    ao.data_dir = opts_.data_dir;
    ao.settings = [this] { return this->settings(); };
    ao.check_timeout = [this] { CheckArchiveTimeout(); };
    archiver_ = std::make_unique<replication::Archiver>(ao);
  }
  eo.xlog.archive_mode = archive_mode;
  eo.xlog.archive_notify = [this] {
    if (archiver_) archiver_->Wake();
  };
  repl_env_.archiver = archiver_.get();
  repl_env_.archive_notify = [this](const std::string& file) { xlog().NotifyArchive(file); };
  if (standby_) {
    SetInternalSetting("in_hot_standby", "on");
    SetInternalSetting("default_transaction_read_only", "on");
  }
  storage::RecoveryResult rr;
  auto engine = access::Engine::Open(eo, &rr);
  if (!engine.ok()) {
    listener_->Stop();
    pid_file_->Remove();
    return engine.TakeStatus();
  }
  engine_ = std::move(*engine);
  slots_ = std::make_unique<replication::SlotManager>(
      fs_, opts_.data_dir, static_cast<int>(settings->GetInt("max_replication_slots")));
  WALREP_RETURN_IF_ERROR(slots_->Load());
  {
    replication::SlotManager* slots = slots_.get();
    engine_->xlog().SetKeepHook([this, slots](Lsn redo) -> Lsn {
      replication::WalKeepLimits limits = WalKeepLimits();
      XLogSegNo keep =
          replication::KeepSegment(redo, slots->MinRestartLsn().value_or(Lsn()), limits);
      // Slots behind what is kept now (max_slot_wal_keep_size) or idle too long lose their
      // reservation; their walsenders end (PostgreSQL's InvalidateObsoleteReplicationSlots).
      std::vector<int32_t> pids =
          slots->InvalidateObsolete(wal::SegmentStart(keep, wal::kDefaultSegSize),
                                    this->settings()->GetInt("idle_replication_slot_timeout"));
      for (const auto& b : Backends()) {
        if (std::find(pids.begin(), pids.end(), b->pid) == pids.end()) continue;
        b->terminate_requested.store(true, std::memory_order_release);
        b->Interrupt();
      }
      // Slots are saved at checkpoints (CheckPointReplicationSlots in PostgreSQL), with the
      // invalidations above; a crash restores an older restart_lsn, which only keeps more WAL,
      // and a failed save keeps the older, safer position.
      Status saved = slots->SaveDirty();
      if (!saved.ok()) WALREP_LOG_ERROR("could not save replication slots: {}", saved.message());
      // Invalidated slots hold nothing back any more.
      keep = replication::KeepSegment(redo, slots->MinRestartLsn().value_or(Lsn()), limits);
      return wal::SegmentStart(keep, wal::kDefaultSegSize);
    });
    repl_env_.slot_wal_status = [this, slots](const replication::SlotInfo& slot) {
      Lsn currpos = in_recovery() ? receiver_->flushed().value() : xlog().writer().flush_lsn();
      return replication::WalStatusOf(slot, currpos, xlog().last_removed_segno(),
                                      slots->MinRestartLsn().value_or(Lsn()), WalKeepLimits());
    };
  }
  // What walsenders and base backups use, for a primary or a standby; a promotion switches
  // from the standby's to the primary's without replacing anything a walsender holds.
  repl_env_.sendable = [this] {
    return in_recovery() ? &receiver_->flushed() : &xlog().writer().flushed();
  };
  repl_env_.in_recovery = [this] { return in_recovery(); };
  repl_env_.history = [this] { return xlog().history(); };
  repl_env_.redo_pointer = [this] {
    return in_recovery() ? Lsn(xlog().control().checkpoint_copy.redo)
                         : xlog().writer().redo_pointer();
  };
  repl_env_.backup_start = [this](bool fast) -> Result<replication::ReplicationEnv::BackupStart> {
    replication::ReplicationEnv::BackupStart b;
    if (in_recovery()) {
      // A backup of a standby starts at a restartpoint (pages flushed, pg_control at the last
      // replayed checkpoint) and ends at the replay position.
      if (!consistent_.load()) {
        return Status::Sql("55000", "the standby is not yet consistent; try again later");
      }
      WALREP_RETURN_IF_ERROR(startup_->Restartpoint());
      storage::ControlFileData c = xlog().control();
      b.checkpoint = Lsn(c.checkpoint);
      b.redo = Lsn(c.checkpoint_copy.redo);
      b.from_standby = true;
    } else {
      WALREP_ASSIGN_OR_RETURN(
          b.checkpoint,
          xlog().Checkpoint(false, fast ? "immediate force wait" : "force wait", &b.redo));
    }
    b.timeline = xlog().timeline();
    return b;
  };
  repl_env_.backup_stop = [this](Lsn start) -> Result<Lsn> {
    if (in_recovery()) return startup_->last_record_end();
    std::string data(reinterpret_cast<const char*>(&start), 8);
    WALREP_ASSIGN_OR_RETURN(
        auto pos, xlog().writer().Insert(wal::kRmXlog, wal::kXlogBackupEnd, 0,
                                         wal::RecordBuilder().SetMainData(data).BuildBody()));
    WALREP_RETURN_IF_ERROR(xlog().SwitchWal().status());
    return pos.end;
  };
  if (standby_) StartStandby(rr);
  // Hot-standby feedback (standbys' oldest snapshot xmin, live or kept in slots) holds back
  // VACUUM here, so replay never removes rows a standby query still needs.
  engine_->txm().SetHorizonHook([this]() -> TransactionId {
    TransactionId a = wal_senders_.FeedbackXmin(), b = slots_->MinXmin();
    return a == 0 ? b : b == 0 ? a : std::min(a, b);
  });
  // Set before any walsender can run (it is called from their replies); a standby's commits
  // are published by replay, not here.
  sync_rep_.SetAdvanceHook([this] {
    if (lossless() && !in_recovery()) engine_->txm().PublishDurable();
  });
  LoadSyncRule(*settings);
  RefreshSyncRep();
  repl_env_.shutting_down = [this] { return senders_finishing_.load(std::memory_order_acquire); };
  repl_env_.sync_rep = &sync_rep_;
  repl_env_.sync_rule = [this] {
    MutexLock l(&sync_mu_);
    return sync_rule_;
  };
  repl_env_.fs = fs_;
  repl_env_.data_dir = opts_.data_dir;
  repl_env_.system_identifier = control.system_identifier;
  repl_env_.timeline = [this] { return xlog().timeline(); };
  repl_env_.slots = slots_.get();
  repl_env_.registry = &wal_senders_;
  repl_env_.prefetcher = &engine_->prefetcher();
  catalog_ = std::make_unique<catalog::Catalog>(engine_.get());
  // A standby's catalog arrives through replay, like any data.
  if (!standby_) {
    WALREP_RETURN_IF_ERROR(catalog_->EnsureSystemRelations());
    WALREP_RETURN_IF_ERROR(roles_->Attach(engine_.get(), catalog_.get(), /*writable=*/true));
    // Files left by transactions a crash cut short (created, never committed) or dropped by
    // commits whose removal a crash interrupted.
    WALREP_ASSIGN_OR_RETURN(size_t removed, catalog_->RemoveUnreferencedFiles());
    if (removed) WALREP_LOG("removed {} unreferenced relation files", removed);
    // No session survives a restart: temporary tables go; after a crash, unlogged tables are
    // emptied (their changes were never WAL-logged).
    WALREP_ASSIGN_OR_RETURN(size_t reset, catalog_->PrepareUnloggedRelations(rr.crash_recovery));
    if (reset) WALREP_LOG("reset {} unlogged and temporary tables", reset);
  }
  if (standby_) WALREP_RETURN_IF_ERROR(roles_->Attach(engine_.get(), catalog_.get(), false));
  db_.engine = engine_.get();
  db_.catalog = catalog_.get();
  WALREP_LOG("starting walrep {} (PostgreSQL 15 protocol)", settings->GetString("server_version"));
  if (archiver_) archiver_->Start();  // .ready files left by an earlier run go first
  if (standby_) {
    // What replay read so far is durable here; the startup thread reads the rest of pg_wal
    // (and the archive), then starts the walreceiver unless this is archive recovery.
    receiver_->flushed().Advance(rr.end);
    startup_->Start();  // opens for reads once consistent
    return Status::OK();
  }
  consistent_.store(true);
  StartPrimary(/*checkpoint_now=*/false);
  if (rr.crash_recovery && lossless() && sync_rep_.active()) {
    // Lossless mode after a crash: the recovered WAL may hold commits no standby confirmed;
    // nothing is served until they have (replication connections are let in meanwhile).
    StartLosslessGate(xlog().writer().flush_lsn());
    return Status::OK();
  }
  starting_up_.store(false, std::memory_order_release);
  WALREP_RETURN_IF_ERROR(pid_file_->SetStatus("ready"));
  WALREP_LOG("database system is ready to accept connections");
  return Status::OK();
}

void Server::StartPrimary(bool checkpoint_now) {
  // Lossless mode: what the synchronous standbys have not confirmed stays invisible. Set after
  // what `walrepctl init` created is in the catalog, so it is visible at the first start
  // whatever the replication settings.
  engine_->txm().SetPublishLimit([this]() -> Lsn {
    if (!lossless() || !sync_rep_.active()) return Lsn(~uint64_t{0});
    return sync_rep_.position(replication::SyncRep::kFlush);
  });
  checkpointer_ =
      NamedThread("checkpointer", [this, checkpoint_now] { CheckpointerLoop(checkpoint_now); });
  autovacuum_ = NamedThread("autovacuum", [this] { AutovacuumLoop(); });
}

void Server::CheckArchiveTimeout() {
  int64_t timeout_s = settings()->GetInt("archive_timeout");
  if (timeout_s <= 0 || in_recovery() || !engine_ || starting_up()) return;
  // As PostgreSQL's CheckArchiveTimeout: a segment that holds WAL and began (or was last
  // checked) archive_timeout ago is switched, so its WAL reaches the archive in time.
  TimestampTz now = NowTimestamp();
  Lsn insert = xlog().writer().insert_lsn();
  uint64_t off = insert.value() % wal::kDefaultSegSize;
  bool has_wal = off > wal::kLongPageHeaderSize;
  XLogSegNo seg = wal::SegmentOf(insert, wal::kDefaultSegSize);
  if (seg != archive_timeout_seg_.load()) {
    archive_timeout_seg_.store(seg);
    archive_timeout_since_.store(now);
    return;
  }
  if (!has_wal || now - archive_timeout_since_.load() < timeout_s * 1000000) return;
  auto st = xlog().SwitchWal();
  if (!st.ok()) WALREP_LOG_ERROR("archive_timeout: {}", st.status().message());
  archive_timeout_since_.store(now);
}

Status Server::RequestPromote() {
  if (!in_recovery() || !startup_) {
    return Status::Sql("55000", "recovery is not in progress")
        .WithHint("Recovery control functions can only be executed during recovery.");
  }
  startup_->RequestPromote();
  return Status::OK();
}

void Server::CheckPromoteSignal() {
  std::string file = ConfigPath("promote");
  if (!fs_->Exists(file)) return;
  fs_->Remove(file).IgnoreError();  // a second signal finds nothing to do
  if (!in_recovery()) return;
  RequestPromote().IgnoreError();  // only fails on a primary, checked above
}

void Server::SetInternalSetting(const std::string& name, const std::string& value) {
  MutexLock l(&mu_);
  auto next = std::make_shared<ServerSettings>(*settings_);
  next->SetInternal(name, value);
  settings_ = next;
  settings_generation_.fetch_add(1, std::memory_order_release);
}

Status Server::FinishPromotion() {
  // Runs on the startup thread, after the walreceiver stopped and everything received was
  // replayed. Order matters: the new timeline's segment, history file and END_OF_RECOVERY
  // record are durable before the signal files go (a crash before that restarts the standby,
  // which replays END_OF_RECOVERY and follows the new timeline; after it, crash recovery
  // follows the new timeline's history and opens as a primary); then sessions may write
  // (in_recovery() false: what pg_promote() waits for), then pg_control says "in production"
  // (what walrepctl promote waits for).
  WALREP_ASSIGN_OR_RETURN(TimelineId tli, engine_->Promote(recovery_.get()));
  engine_->env().resolve_conflict = nullptr;
  // Unlogged tables start empty on the new primary, and the old primary's temporary tables go
  // (PostgreSQL copies the init forks at the end of recovery).
  WALREP_ASSIGN_OR_RETURN(size_t reset, catalog_->PrepareUnloggedRelations(/*crashed=*/true));
  if (reset) WALREP_LOG("reset {} unlogged and temporary tables", reset);
  for (const char* signal : {"standby.signal", "recovery.signal"}) {
    if (fs_->Exists(ConfigPath(signal))) WALREP_RETURN_IF_ERROR(fs_->Remove(ConfigPath(signal)));
  }
  WALREP_RETURN_IF_ERROR(fs_->SyncDir(opts_.data_dir));
  standby_.store(false, std::memory_order_release);
  SetInternalSetting("in_hot_standby", "off");
  {
    // Back to the configured default (the files, as the next reload would read them).
    std::shared_ptr<const ServerSettings> files;
    std::string ro = "off";
    if (LoadConfig(&files).ok()) ro = files->Get("default_transaction_read_only").value_or("off");
    SetInternalSetting("default_transaction_read_only", ro);
  }
  WALREP_RETURN_IF_ERROR(xlog().SetInProduction());
  WALREP_LOG("archive recovery complete");
  StartPrimary(/*checkpoint_now=*/true);
  startup_->replayed().Kick();  // WAIT FOR LSN: recovery has ended
  // Walsenders streaming the old timeline end it at the switch point (and cascaded standbys
  // follow); they notice at their next wake-up.
  for (const auto& b : Backends()) {
    MutexLock bl(&b->mu);
    if (b->backend_type == "walsender") b->Interrupt();
  }
  starting_up_.store(false, std::memory_order_release);
  if (pid_file_) pid_file_->SetStatus("ready").IgnoreError();  // informational
  WALREP_LOG("database system is ready to accept connections (timeline {})", tli);
  return Status::OK();
}

void Server::StartLosslessGate(Lsn end) {
  awaiting_sync_.store(true);
  WALREP_LOG(
      "waiting for the synchronous standbys to confirm WAL up to {} before accepting "
      "connections (walrep.sync_commit_lossless)",
      end.ToString());
  sync_gate_ = NamedThread("sync gate", [this, end] {
    Status st = sync_rep_.Wait(end, replication::SyncRep::kFlush, [this]() -> Status {
      if (shutdown_mode() != ShutdownMode::kNone) return Status::Shutdown("shutting down");
      return Status::OK();
    });
    if (!st.ok()) return;
    engine_->txm().PublishDurable();
    awaiting_sync_.store(false);
    starting_up_.store(false, std::memory_order_release);
    if (pid_file_) pid_file_->SetStatus("ready").IgnoreError();  // informational
    WALREP_LOG(
        "synchronous standbys confirmed {}; database system is ready to accept "
        "connections",
        end.ToString());
  });
}

void Server::StartStandby(storage::RecoveryResult& rr) {
  replication::ReceiverOptions ro;
  ro.fs = fs_;
  ro.data_dir = opts_.data_dir;
  ro.system_identifier = xlog().system_identifier();
  ro.settings = [this] { return settings(); };
  ro.applied = [this] { return startup_->replayed().value(); };
  ro.feedback_xmin = [this] { return engine_->txm().OldestRunning(); };
  ro.segment_done = [this, always = settings()->GetString("archive_mode") ==
                                    "always"](const std::string& file) {
    const std::string wal_dir = opts_.data_dir + "/pg_wal";
    Status st = always ? wal::MarkArchiveReady(fs_, wal_dir, file)
                       : wal::MarkArchiveDone(fs_, wal_dir, file);
    if (!st.ok()) WALREP_LOG_ERROR("{}", st.message());
    if (always && archiver_) archiver_->Wake();
  };
  receiver_ = std::make_unique<replication::WalReceiver>(ro);
  replication::StartupOptions so;
  so.engine = engine_.get();
  so.fs = fs_;
  so.data_dir = opts_.data_dir;
  so.received = &receiver_->flushed();
  recovery_ = std::move(rr.recovery);
  so.recovery = recovery_.get();
  so.settings = [this] { return settings(); };
  so.on_consistent = [this] {
    consistent_.store(true);
    if (!settings()->GetBool("hot_standby")) return;
    starting_up_.store(false, std::memory_order_release);
    if (pid_file_) pid_file_->SetStatus("ready").IgnoreError();  // informational
    WALREP_LOG("database system is ready to accept read-only connections");
  };
  replication::WalReceiver* receiver = receiver_.get();
  so.on_replayed = [receiver] { receiver->RequestReply(); };
  so.on_fatal = [this](const Status&) {
    WALREP_LOG("startup process terminated; shutting down");
    Shutdown(ShutdownMode::kFast);
  };
  so.stop_receiver = [receiver] { receiver->Stop(); };
  so.streaming = [receiver] { return receiver->status().connected; };
  so.start_streaming = [receiver](Lsn pos, TimelineId tli) { receiver->Start(pos, tli); };
  so.on_promote = [this] { return FinishPromotion(); };
  so.archive_recovery = archive_recovery_;
  so.on_shutdown = [this] { Shutdown(ShutdownMode::kFast); };
  startup_ = std::make_unique<replication::Startup>(so);
  engine_->env().resolve_conflict = [this](TransactionId x) { ResolveSnapshotConflict(x); };
  engine_->recovery_locks().SetRequest(
      [this](const access::LockTag& tag) { return RecoveryLockRequest(tag); });
  repl_env_.receiver = receiver_.get();
  repl_env_.startup = startup_.get();
}

void Server::LoadSyncRule(const ServerSettings& s) {
  lossless_.store(s.GetBool("walrep.sync_commit_lossless"), std::memory_order_release);
  auto rule = replication::SyncRule::Parse(s.GetString("synchronous_standby_names"));
  if (!rule.ok()) {
    WALREP_LOG_ERROR("{} ({})", rule.status().message(), rule.status().detail());
    rule = replication::SyncRule();
  }
  MutexLock l(&sync_mu_);
  sync_rule_ = std::make_shared<const replication::SyncRule>(*rule);
}

void Server::RefreshSyncRep() {
  std::shared_ptr<const replication::SyncRule> rule;
  {
    MutexLock l(&sync_mu_);
    rule = sync_rule_;
  }
  sync_rep_.Update(*rule, wal_senders_.List());
}

const char* RecoveryConflictDetail(RecoveryConflict reason) {
  switch (reason) {
    case RecoveryConflict::kLock:
      return "User was holding a relation lock for too long.";
    case RecoveryConflict::kSnapshot:
      return "User query might have needed to see row versions that must be removed.";
    case RecoveryConflict::kNone:
      break;
  }
  return "";
}

int64_t Server::MaxStandbyDelayMs() {
  // Streamed WAL waits max_standby_streaming_delay, WAL read from the archive or pg_wal
  // max_standby_archive_delay (-1: as long as the queries take).
  bool streaming = receiver_ && receiver_->status().connected;
  return settings()->GetInt(streaming ? "max_standby_streaming_delay"
                                      : "max_standby_archive_delay");
}

void Server::CancelForRecovery(const std::vector<int32_t>& pids, RecoveryConflict reason,
                               std::set<int32_t>* counted) {
  for (const auto& b : Backends()) {
    if (std::find(pids.begin(), pids.end(), b->pid) == pids.end()) continue;
    if (counted->insert(b->pid).second) {
      (reason == RecoveryConflict::kLock ? conflicts_lock_ : conflicts_snapshot_).fetch_add(1);
    }
    b->recovery_conflict.store(static_cast<int>(reason), std::memory_order_release);
    b->Interrupt();
  }
}

access::LockRequest Server::RecoveryLockRequest(const access::LockTag& tag) {
  // As ResolveRecoveryConflictWithLock: wait up to the delay for the standby queries holding
  // the table, then cancel them (again, while they still hold it).
  access::LockRequest req;
  req.deadlock_timeout_ms = 0;  // replay is never part of a cycle: it cancels whoever blocks it
  int64_t delay_ms = MaxStandbyDelayMs();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
  auto counted = std::make_shared<std::set<int32_t>>();
  req.check = [this, tag, delay_ms, deadline, counted]() -> Status {
    if (startup_stopping_.load()) return Status::Shutdown("replay is stopping");
    if (delay_ms < 0 || std::chrono::steady_clock::now() < deadline) return Status::OK();
    access::LockManager& locks = engine_->locks();
    CancelForRecovery(
        locks.Blockers(engine_->recovery_locks().owner(), tag, access::LockMode::kAccessExclusive),
        RecoveryConflict::kLock, counted.get());
    return Status::OK();
  };
  return req;
}

void Server::AutoRewind(const ServerSettings& settings) {
  // A former primary started as a standby: if its history forked from its upstream's, it is
  // rewound from the upstream before anything is read (walrep.auto_rewind; beyond PostgreSQL).
  std::string conninfo = settings.GetString("primary_conninfo");
  if (conninfo.empty()) return;
  auto control = storage::ReadControlFile(fs_, opts_.data_dir);
  if (!control.ok()) return;  // Start reports it
  if (!replication::CleanlyShutDown(control->state)) {
    WALREP_LOG(
        "walrep.auto_rewind: the data directory was not shut down cleanly; not rewinding (run "
        "walrepctl rewind, which recovers it first)");
    return;
  }
  replication::RewindOptions ro;
  ro.target = opts_.data_dir;
  // SQL connection to the upstream (primary_conninfo rarely names a database).
  ro.source_server =
      conninfo.find("dbname") == std::string::npos ? conninfo + " dbname=postgres" : conninfo;
  ro.log = [](const std::string& msg) { WALREP_LOG("walrep.auto_rewind: {}", msg); };
  auto r = replication::RewindDataDir(ro);
  if (!r.ok()) {
    // The usual case: a standby on its upstream's timeline.
    if (r.status().message().find("same timeline") == std::string::npos) {
      WALREP_LOG_ERROR("walrep.auto_rewind: {}", r.status().message());
    }
    return;
  }
  if (!r->rewound) return;
  WALREP_LOG(
      "walrep.auto_rewind: rewound from the upstream: discarded this server's WAL from {} to {} "
      "({} blocks it changed, {} committed transactions the upstream never had); {} kB copied",
      r->diverge.ToString(), r->target_end.ToString(), r->blocks, r->commits_discarded,
      r->bytes_copied >> 10);
}

replication::WalKeepLimits Server::WalKeepLimits() const {
  auto s = settings();
  replication::WalKeepLimits limits;
  limits.max_slot_wal_keep_mb = s->GetInt("max_slot_wal_keep_size");
  limits.wal_keep_mb = s->GetInt("wal_keep_size");
  limits.max_wal_mb = s->GetInt("max_wal_size");
  return limits;
}

void Server::ResolveSnapshotConflict(TransactionId latest_removed) {
  if (latest_removed < access::kFirstNormalXid) return;
  access::TransactionManager& txm = engine_->txm();
  int64_t delay_ms = MaxStandbyDelayMs();
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::milliseconds(std::max<int64_t>(delay_ms, 0));
  std::set<int32_t> counted;
  while (true) {
    if (startup_stopping_.load()) return;
    auto now = std::chrono::steady_clock::now();
    if (delay_ms < 0 || now < deadline) {
      // Wait for the queries to finish on their own (-1: as long as they take).
      auto until = delay_ms < 0 ? now + std::chrono::seconds(1) : deadline;
      if (txm.WaitSnapshotsReleased(latest_removed, until)) return;
      continue;
    }
    std::vector<int32_t> owners = txm.SnapshotOwnersUpTo(latest_removed);
    if (owners.empty()) return;
    // Past the delay: cancel them, and repeat the request while they are still there.
    CancelForRecovery(owners, RecoveryConflict::kSnapshot, &counted);
    if (txm.WaitSnapshotsReleased(latest_removed, now + std::chrono::milliseconds(100))) return;
  }
}

Status Server::NotAcceptingConnections() const {
  if (standby_ && consistent_.load()) {
    return Status::Sql("57P03", "the database system is not accepting connections")
        .WithDetail("Hot standby mode is disabled.")
        .WithSeverity(Severity::kFatal);
  }
  if (standby_) {
    return Status::Sql("57P03", "the database system is not yet accepting connections")
        .WithDetail("Consistent recovery state has not been yet reached.")
        .WithSeverity(Severity::kFatal);
  }
  return Status::Sql("57P03", "the database system is starting up").WithSeverity(Severity::kFatal);
}

Status Server::RequestCheckpoint() {
  if (standby_) return startup_->Restartpoint();
  return xlog().Checkpoint(false, "immediate force wait").status();
}

std::shared_ptr<const ServerSettings> Server::settings() const {
  MutexLock l(&mu_);
  return settings_;
}
std::shared_ptr<const protocol::HbaConfig> Server::hba() const {
  MutexLock l(&mu_);
  return hba_;
}
std::shared_ptr<SSL_CTX> Server::ssl_ctx() const {
  MutexLock l(&mu_);
  return ssl_ctx_;
}

Status Server::Reload() {
  WALREP_LOG("received SIGHUP, reloading configuration files");
  std::shared_ptr<const ServerSettings> next;
  Status st = LoadConfig(&next);
  if (!st.ok()) {
    WALREP_LOG_ERROR("{}", st.message());
    WALREP_LOG("configuration file \"{}\" contains errors; no changes were applied",
               ConfigPath("postgresql.conf"));
    return st;
  }
  std::shared_ptr<const ServerSettings> current = settings();
  std::vector<std::string> rejected;
  auto applied = current->ApplyReload(*next, &rejected);
  for (const auto& name : rejected) {
    WALREP_LOG("parameter \"{}\" cannot be changed without restarting the server", name);
  }
  for (const auto& d : GucTable()) {
    auto before = current->Get(d.name), after = applied->Get(d.name);
    if (before != after && d.context != GucContext::kPostmaster) {
      // The upstream's connection string may carry a password: logged masked.
      std::string shown = after.value_or("");
      if (EqualsIgnoreCase(d.name, "primary_conninfo")) shown = replication::MaskConninfo(shown);
      WALREP_LOG("parameter \"{}\" changed to \"{}\"", d.name, shown);
    }
  }
  std::shared_ptr<const protocol::HbaConfig> hba;
  Status hst = LoadHba(&hba);
  if (!hst.ok()) {
    WALREP_LOG("{}", hst.message());
    WALREP_LOG("pg_hba.conf was not reloaded");
  }
  std::shared_ptr<SSL_CTX> ssl;
  Status sst = LoadSsl(*applied, &ssl);
  if (!sst.ok()) WALREP_LOG("{}; SSL configuration was not reloaded", sst.message());
  SetLogMinMessages(applied->GetString("log_min_messages"));
  if (engine_) {
    engine_->SetWalConsistencyChecking(applied->GetString("wal_consistency_checking"));
    engine_->prefetcher().Configure(PrefetchConfig(*applied));
    engine_->xlog().SetWalInitZero(applied->GetBool("wal_init_zero"));
    engine_->xlog().SetWalSizes(static_cast<uint64_t>(applied->GetInt("wal_keep_size")) << 20,
                                static_cast<uint64_t>(applied->GetInt("min_wal_size")) << 20,
                                static_cast<uint64_t>(applied->GetInt("max_wal_size")) << 20,
                                std::stod(applied->GetString("checkpoint_completion_target")));
  }
  {
    MutexLock l(&mu_);
    settings_ = applied;
    if (hst.ok()) hba_ = hba;
    if (sst.ok()) ssl_ctx_ = ssl;
    settings_generation_.fetch_add(1, std::memory_order_release);
  }
  // A new synchronous_standby_names applies at once ('' releases every waiting commit).
  LoadSyncRule(*applied);
  RefreshSyncRep();
  if (engine_ && !standby_) engine_->txm().PublishDurable();  // lossless may have been turned off
  if (startup_ && in_recovery()) startup_->Wake();  // recovery_min_apply_delay may have changed
  if (archiver_) archiver_->Wake();                 // archive_command may have changed
  return Status::OK();
}

Status Server::AlterSystem(const std::string& name, const std::optional<std::string>& value) {
  MutexLock l(&auto_conf_mu_);
  std::string path = ConfigPath("postgresql.auto.conf");
  std::vector<std::pair<std::string, std::string>> items;
  if (!name.empty() || value) {
    WALREP_ASSIGN_OR_RETURN(auto existing, ParseConfigFile(path, true));
    for (const auto& a : existing) {
      if (!EqualsIgnoreCase(a.name, name)) items.emplace_back(a.name, a.value);
    }
    if (value) items.emplace_back(name, *value);
  }
  return fs_->WriteFileDurably(path, RenderAutoConf(items));
}

Result<std::shared_ptr<BackendInfo>> Server::RegisterBackend() {
  auto b = std::make_shared<BackendInfo>();
  b->pid = static_cast<int32_t>(::syscall(SYS_gettid));
  std::string key = protocol::RandomBytes(4);
  std::memcpy(&b->cancel_key, key.data(), 4);
  b->interrupt_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->interrupt_fd < 0) return Status::IOError("could not create eventfd");
  {
    MutexLock bl(&b->mu);
    b->backend_start = NowTimestamp();
    b->state_change = b->backend_start;
  }
  MutexLock l(&mu_);
  if (static_cast<int64_t>(backends_.size()) >= settings_->GetInt("max_connections")) {
    ::close(b->interrupt_fd);
    return Status::Sql("53300", "sorry, too many clients already").WithSeverity(Severity::kFatal);
  }
  backends_[b->pid] = b;
  return b;
}

void Server::UnregisterBackend(int32_t pid) {
  std::shared_ptr<BackendInfo> b;
  {
    MutexLock l(&mu_);
    auto it = backends_.find(pid);
    if (it == backends_.end()) return;
    b = it->second;
    backends_.erase(it);
  }
  ::close(b->interrupt_fd);
}

std::vector<std::shared_ptr<BackendInfo>> Server::Backends() const {
  MutexLock l(&mu_);
  std::vector<std::shared_ptr<BackendInfo>> out;
  for (const auto& [pid, b] : backends_) out.push_back(b);
  return out;
}

size_t Server::BackendCount() const {
  MutexLock l(&mu_);
  return backends_.size();
}

bool Server::Cancel(int32_t pid, int32_t key) {
  std::shared_ptr<BackendInfo> b;
  {
    MutexLock l(&mu_);
    auto it = backends_.find(pid);
    if (it != backends_.end() && it->second->cancel_key == key) b = it->second;
  }
  if (!b) {
    WALREP_LOG("PID {} in cancel request did not match any process", pid);
    return false;
  }
  b->cancel_requested.store(true, std::memory_order_release);
  b->Interrupt();
  sync_rep_.Kick();  // a commit waiting for standbys re-checks its interrupts
  return true;
}

Result<bool> Server::SignalBackend(int32_t pid, bool terminate, const std::string& requester,
                                   bool requester_superuser, std::string* warning) {
  std::shared_ptr<BackendInfo> b;
  {
    MutexLock l(&mu_);
    auto it = backends_.find(pid);
    if (it != backends_.end()) b = it->second;
  }
  if (!b) {
    *warning = fmt::format("PID {} is not a PostgreSQL server process", pid);
    return false;
  }
  {
    MutexLock bl(&b->mu);
    if (b->superuser && !requester_superuser) {
      return Status::Sql("42501", fmt::format("must be a superuser to {} superuser query",
                                              terminate ? "terminate" : "cancel"));
    }
    if (!requester_superuser && b->user != requester) {
      return Status::Sql("42501", fmt::format("must be a member of the role whose {} or member of "
                                              "pg_signal_backend",
                                              terminate ? "process is being terminated"
                                                        : "query is being canceled"));
    }
  }
  (terminate ? b->terminate_requested : b->cancel_requested).store(true, std::memory_order_release);
  b->Interrupt();
  sync_rep_.Kick();
  return true;
}

void Server::StopWalSenders() {
  // The shutdown checkpoint is written: walsenders send what is left, wait briefly for their
  // standby to confirm it, and end (PostgreSQL's WalSndDone), so a cleanly stopped primary
  // leaves its standbys with all of its WAL.
  senders_finishing_.store(true, std::memory_order_release);
  for (const auto& b : Backends()) {
    MutexLock bl(&b->mu);
    if (b->backend_type != "walsender") continue;
    b->terminate_requested.store(true, std::memory_order_release);
    b->Interrupt();
  }
  MutexLock l(&mu_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running_sessions_ > 0 && std::chrono::steady_clock::now() < deadline) {
    sessions_cv_.WaitUntil(deadline);
  }
}

void Server::StartSession(int fd, bool local, const sockaddr_storage& peer) {
  {
    MutexLock l(&mu_);
    running_sessions_++;  // before the thread starts: a shutdown waits for this session too
  }
  NamedThread("backend", [this, fd, local, peer] { RunSession(fd, local, peer); }).detach();
}

void Server::ServeConnection(int fd, bool local, const sockaddr_storage& peer) {
  {
    MutexLock l(&mu_);
    running_sessions_++;
  }
  RunSession(fd, local, peer);
}

void Server::RunSession(int fd, bool local, const sockaddr_storage& peer) {
  {
    Session s(this, fd, local, peer);
    s.Run();
  }
  MutexLock l(&mu_);
  running_sessions_--;
  sessions_cv_.SignalAll();
}

void Server::Shutdown(ShutdownMode mode) {
  ShutdownMode prev = shutdown_.load();
  // A stronger mode may follow a weaker one (smart, then fast, then immediate).
  while (static_cast<int>(mode) > static_cast<int>(prev)) {
    if (shutdown_.compare_exchange_weak(prev, mode)) break;
  }
  if (static_cast<int>(mode) <= static_cast<int>(prev)) return;
  switch (mode) {
    case ShutdownMode::kSmart:
      WALREP_LOG("received smart shutdown request");
      break;
    case ShutdownMode::kFast:
      WALREP_LOG("received fast shutdown request");
      WALREP_LOG("aborting any active transactions");
      for (const auto& b : Backends()) {
        MutexLock bl(&b->mu);
        if (b->backend_type == "walsender") continue;  // they end after the last checkpoint
        b->terminate_requested.store(true, std::memory_order_release);
        b->Interrupt();
      }
      sync_rep_.Kick();
      break;
    case ShutdownMode::kImmediate:
      WALREP_LOG("received immediate shutdown request");
      break;
    case ShutdownMode::kNone:
      return;
  }
  if (pid_file_) pid_file_->SetStatus("stopping").IgnoreError();  // informational only
  MutexLock l(&mu_);
  sessions_cv_.SignalAll();
}

void Server::WaitForShutdown() {
  {
    MutexLock l(&mu_);
    while (true) {
      ShutdownMode m = shutdown_.load(std::memory_order_acquire);
      if (m == ShutdownMode::kImmediate) break;
      // Walsenders outlive client sessions: they stream the shutdown checkpoint to their
      // standbys before they end (FinishShutdown).
      if (m != ShutdownMode::kNone && running_sessions_ <= static_cast<int>(wal_senders_.Count())) {
        break;
      }
      sessions_cv_.Wait();
    }
  }
  FinishShutdown();
}

void Server::FinishShutdown() {
  {
    MutexLock l(&mu_);
    if (finished_) return;
    finished_ = true;
  }
  if (listener_) listener_->Stop();
  if (sync_gate_.joinable()) {
    sync_rep_.Kick();
    sync_gate_.join();
  }
  if (receiver_) receiver_->Stop();
  startup_stopping_.store(true);
  if (startup_) startup_->Stop();
  if (autovacuum_.joinable()) {
    {
      MutexLock l(&autovacuum_mu_);
      autovacuum_stop_ = true;
      autovacuum_cv_.SignalAll();
    }
    autovacuum_.join();
  }
  if (checkpointer_.joinable()) {
    checkpointer_stop_.store(true);
    engine_->xlog().writer().flushed().Shutdown();
    checkpointer_.join();
  }
  if (shutdown_.load() != ShutdownMode::kImmediate && engine_) {
    WALREP_LOG("shutting down");
    Status st = engine_->Shutdown();
    if (!st.ok()) WALREP_LOG_ERROR("{}", st.message());
    StopWalSenders();
  }
  if (archiver_) archiver_->Stop();  // after the shutdown checkpoint; .ready files survive
  if (pid_file_) pid_file_->Remove();
  WALREP_LOG("database system is shut down");
}

void Server::CheckpointerLoop(bool checkpoint_now) {
  auto last = std::chrono::steady_clock::now();
  if (checkpoint_now) {
    // The end-of-recovery checkpoint a promotion requests (PostgreSQL's CHECKPOINT_FORCE):
    // the new timeline's first checkpoint, taken beside the sessions already writing.
    auto st = engine_->xlog().Checkpoint(false, "force");
    if (!st.ok()) WALREP_LOG_ERROR("checkpoint failed: {}", st.status().message());
  }
  while (!checkpointer_stop_.load()) {
    auto s = settings();
    auto timeout = std::chrono::seconds(s->GetInt("checkpoint_timeout"));
    // PostgreSQL's CheckPointSegments: max_wal_size spread over the completion target.
    double target = s->GetInt("max_wal_size") * 1024.0 * 1024.0 /
                    (1.0 + std::stod(s->GetString("checkpoint_completion_target")));
    Lsn redo(engine_->xlog().control().checkpoint_copy.redo);
    Lsn wal_target = redo + static_cast<uint64_t>(target);
    auto r = engine_->xlog().writer().flushed().WaitFor(wal_target, last + timeout);
    if (checkpointer_stop_.load()) break;
    const char* reason = nullptr;
    if (r.ok()) {
      reason = "wal";
    } else if (r.status().code() == Status::Code::kTimedOut) {
      reason = "time";
    } else {
      break;  // shutdown
    }
    // A time-triggered checkpoint with no new WAL since the last one is skipped, as in PostgreSQL.
    if (std::string(reason) == "time" &&
        engine_->xlog().writer().insert_lsn() <= Lsn(engine_->xlog().control().checkpoint) + 200) {
      last = std::chrono::steady_clock::now();
      continue;
    }
    auto st = engine_->xlog().Checkpoint(false, reason);
    if (!st.ok()) WALREP_LOG_ERROR("checkpoint failed: {}", st.status().message());
    last = std::chrono::steady_clock::now();
  }
}

void Server::AutovacuumLoop() {
  MutexLock l(&autovacuum_mu_);
  while (!autovacuum_stop_) {
    auto naptime = std::chrono::seconds(settings()->GetInt("autovacuum_naptime"));
    autovacuum_cv_.WaitUntil(std::chrono::steady_clock::now() + naptime);
    if (autovacuum_stop_) break;
    if (!settings()->GetBool("autovacuum") || starting_up_.load() ||
        shutdown_mode() != ShutdownMode::kNone) {
      continue;
    }
    autovacuum_mu_.Unlock();
    Status st = AutovacuumOnce();
    autovacuum_mu_.Lock();
    if (!st.ok()) WALREP_LOG_ERROR("autovacuum: {}", st.message());
  }
}

Status Server::AutovacuumOnce() {
  auto s = settings();
  const int64_t threshold = s->GetInt("autovacuum_vacuum_threshold");
  const double scale = std::stod(s->GetString("autovacuum_vacuum_scale_factor"));
  const int64_t log_min_ms = s->GetInt("log_autovacuum_min_duration");
  // The snapshot keeps the files of a table dropped meanwhile until the VACUUM is done.
  access::TxnContext tx;
  tx.snapshot = engine_->txm().TakeSnapshot();
  auto needs_vacuum = [&](const wal::RelFileNode& rel, access::TableStats::Counts* c) {
    *c = engine_->stats().Get(rel);
    return static_cast<double>(c->dead) > static_cast<double>(threshold) + scale * c->live;
  };
  // Runs a vacuum and logs it as PostgreSQL does.
  auto vacuum = [&](const std::string& qualified_name, size_t indexes, int64_t dead_before,
                    const std::function<Result<uint64_t>()>& run) -> Status {
    auto started = std::chrono::steady_clock::now();
    WALREP_ASSIGN_OR_RETURN(uint64_t removed, run());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    if (log_min_ms >= 0 && ms >= log_min_ms) {
      WALREP_LOG(
          "automatic vacuum of table \"postgres.{}\": index scans: {}, tuples: {} removed, {} "
          "dead before; elapsed: {:.2f} s",
          qualified_name, indexes, removed, dead_before, static_cast<double>(ms) / 1000.0);
    }
    return Status::OK();
  };
  // The system catalog first: every CREATE, ALTER and DROP leaves dead rows in it, and every
  // statement after a DDL reads it whole. Nothing locks these relations (their rows change
  // under row locks, as a table's under DML, which VACUUM runs beside).
  for (const auto& sys : catalog::kSystemRelations) {
    access::TableStats::Counts c;
    if (!needs_vacuum(sys.rel, &c)) continue;
    WALREP_RETURN_IF_ERROR(vacuum(std::string("pg_catalog.") + sys.name, 0, c.dead, [&] {
      return engine_->Vacuum(tx, sys.rel, {}, {}, /*autovacuum=*/true);
    }));
    if (shutdown_mode() != ShutdownMode::kNone) return Status::OK();
  }
  WALREP_ASSIGN_OR_RETURN(auto tables, catalog_->ListTables(tx));
  access::LockOwner owner(static_cast<int32_t>(getpid()));
  tx.locks = &owner;
  for (const auto& listed : tables) {
    if (listed.kind != 'r' || listed.persistence == 't') continue;  // temp: its session's
    access::TableStats::Counts c;
    if (!needs_vacuum(listed.rel, &c)) continue;
    // As PostgreSQL's autovacuum: ShareUpdateExclusiveLock if it is free, else the table
    // waits for the next round (DDL and explicit LOCKs go first).
    Status locked = access::LockRelation(engine_->env(), tx, catalog::kDatabaseOid, listed.oid,
                                         access::LockMode::kShareUpdateExclusive, true);
    struct Unlock {
      access::LockManager* locks;
      access::LockOwner* owner;
      ~Unlock() { locks->ReleaseAll(owner); }
    } unlock{&engine_->locks(), &owner};
    if (locked.code() == Status::Code::kRetry) {
      if (log_min_ms >= 0) {
        WALREP_LOG("skipping vacuum of \"{}\" --- lock not available", listed.name);
      }
      continue;
    }
    WALREP_RETURN_IF_ERROR(locked);
    WALREP_ASSIGN_OR_RETURN(auto current,
                            catalog_->GetTable(tx, listed.name, access::LockMode::kNoLock));
    if (!current || current->oid != listed.oid) continue;  // dropped meanwhile
    const catalog::TableDef& t = *current;
    WALREP_RETURN_IF_ERROR(vacuum("public." + t.name, t.indexes.size(), c.dead,
                                  [&] { return sql::VacuumTable(engine_.get(), tx, t, true); }));
    if (shutdown_mode() != ShutdownMode::kNone) break;
  }
  return Status::OK();
}

namespace {

// A view's timestamptz column: NULL for "never" (0).
sql::Value TimestampOrNull(TimestampTz t) {
  return t == 0 ? sql::Value::Null(sql::oid::kTimestampTz)
                : sql::Value::Timestamp(sql::oid::kTimestampTz, t);
}

}  // namespace

// pg_stat_user_tables, with PostgreSQL 15's columns: the row counters and vacuum history of
// access::TableStats (kept across clean shutdowns, reset by a crash). Scan counters and
// ANALYZE, which walrep does not track, are NULL.
void Server::RegisterTableStatsView() {
  using sql::Value;
  namespace oid = sql::oid;
  sql::ViewDef v;
  v.name = "pg_stat_user_tables";
  v.columns = {{"relid", oid::kOid},
               {"schemaname", oid::kName},
               {"relname", oid::kName},
               {"seq_scan", oid::kInt8},
               {"seq_tup_read", oid::kInt8},
               {"idx_scan", oid::kInt8},
               {"idx_tup_fetch", oid::kInt8},
               {"n_tup_ins", oid::kInt8},
               {"n_tup_upd", oid::kInt8},
               {"n_tup_del", oid::kInt8},
               {"n_tup_hot_upd", oid::kInt8},
               {"n_live_tup", oid::kInt8},
               {"n_dead_tup", oid::kInt8},
               {"n_mod_since_analyze", oid::kInt8},
               {"n_ins_since_vacuum", oid::kInt8},
               {"last_vacuum", oid::kTimestampTz},
               {"last_autovacuum", oid::kTimestampTz},
               {"last_analyze", oid::kTimestampTz},
               {"last_autoanalyze", oid::kTimestampTz},
               {"vacuum_count", oid::kInt8},
               {"autovacuum_count", oid::kInt8},
               {"analyze_count", oid::kInt8},
               {"autoanalyze_count", oid::kInt8}};
  v.rows = [this](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
    access::TxnContext tx;
    tx.snapshot = engine_->txm().TakeSnapshot();
    WALREP_ASSIGN_OR_RETURN(auto tables, catalog_->ListTables(tx));
    auto count = [](int64_t n) { return Value::Int(oid::kInt8, n); };
    auto null8 = [] { return Value::Null(oid::kInt8); };
    std::vector<sql::Row> rows;
    for (const auto& t : tables) {
      if (t.kind != 'r') continue;
      access::TableStats::Counts c = engine_->stats().Get(t.rel);
      rows.push_back({Value::Int(oid::kOid, t.oid),
                      Value::Text(oid::kName, "public"),
                      Value::Text(oid::kName, t.name),
                      null8(),
                      null8(),
                      null8(),
                      null8(),
                      count(c.inserted),
                      count(c.updated),
                      count(c.deleted),
                      count(c.hot_updated),
                      count(c.live),
                      count(c.dead),
                      null8(),
                      count(c.inserted_since_vacuum),
                      TimestampOrNull(c.last_vacuum),
                      TimestampOrNull(c.last_autovacuum),
                      Value::Null(oid::kTimestampTz),
                      Value::Null(oid::kTimestampTz),
                      count(c.vacuum_count),
                      count(c.autovacuum_count),
                      null8(),
                      null8()});
    }
    return rows;
  };
  registry_.AddView(std::move(v));
}

void Server::RegisterViews() {
  using sql::Value;
  namespace oid = sql::oid;
  sql::ViewDef v;
  v.name = "pg_stat_activity";
  v.columns = {{"datid", oid::kOid},
               {"datname", oid::kName},
               {"pid", oid::kInt4},
               {"leader_pid", oid::kInt4},
               {"usesysid", oid::kOid},
               {"usename", oid::kName},
               {"application_name", oid::kText},
               {"client_addr", oid::kInet},
               {"client_hostname", oid::kText},
               {"client_port", oid::kInt4},
               {"backend_start", oid::kTimestampTz},
               {"xact_start", oid::kTimestampTz},
               {"query_start", oid::kTimestampTz},
               {"state_change", oid::kTimestampTz},
               {"wait_event_type", oid::kText},
               {"wait_event", oid::kText},
               {"state", oid::kText},
               {"backend_xid", oid::kXid},
               {"backend_xmin", oid::kXid},
               {"query_id", oid::kInt8},
               {"query", oid::kText},
               {"backend_type", oid::kText}};
  v.rows = [this](sql::SessionContext& ctx) -> Result<std::vector<sql::Row>> {
    std::vector<sql::Row> rows;
    bool su = ctx.is_superuser();
    std::string me = ctx.current_user();
    auto text_or_null = [](const std::string& s, int32_t type) {
      return s.empty() ? Value::Null(type) : Value::Text(type, s);
    };
    for (const auto& b : Backends()) {
      MutexLock l(&b->mu);
      if (!b->authenticated) continue;
      bool visible = su || b->user == me;
      sql::Row r;
      r.push_back(b->database.empty() ? Value::Null(oid::kOid) : Value::Int(oid::kOid, 5));
      r.push_back(text_or_null(b->database, oid::kName));
      r.push_back(Value::Int(oid::kInt4, b->pid));
      r.push_back(Value::Null(oid::kInt4));
      r.push_back(Value::Null(oid::kOid));
      r.push_back(text_or_null(b->user, oid::kName));
      r.push_back(Value::Text(oid::kText, b->application_name));
      r.push_back(visible ? text_or_null(b->client_addr, oid::kInet) : Value::Null(oid::kInet));
      r.push_back(Value::Null(oid::kText));
      r.push_back(visible ? Value::Int(oid::kInt4, b->client_port) : Value::Null(oid::kInt4));
      r.push_back(visible ? TimestampOrNull(b->backend_start) : Value::Null(oid::kTimestampTz));
      r.push_back(visible ? TimestampOrNull(b->xact_start) : Value::Null(oid::kTimestampTz));
      r.push_back(visible ? TimestampOrNull(b->query_start) : Value::Null(oid::kTimestampTz));
      r.push_back(visible ? TimestampOrNull(b->state_change) : Value::Null(oid::kTimestampTz));
      r.push_back(visible ? text_or_null(b->wait_event_type, oid::kText) : Value::Null(oid::kText));
      r.push_back(visible ? text_or_null(b->wait_event, oid::kText) : Value::Null(oid::kText));
      r.push_back(visible ? text_or_null(b->state, oid::kText) : Value::Null(oid::kText));
      auto xid_or_null = [](uint32_t x) {
        return x == 0 ? Value::Null(oid::kXid) : Value::Int(oid::kXid, x);
      };
      r.push_back(xid_or_null(b->backend_xid));
      r.push_back(xid_or_null(b->backend_xmin));
      r.push_back(Value::Null(oid::kInt8));
      r.push_back(Value::Text(oid::kText, visible ? b->query : "<insufficient privilege>"));
      r.push_back(Value::Text(oid::kText, b->backend_type));
      rows.push_back(std::move(r));
    }
    return rows;
  };
  registry_.AddView(std::move(v));
  RegisterTableStatsView();
  // Queries cancelled on this standby because replay had to remove rows they might need.
  sql::ViewDef c;
  c.name = "pg_stat_database_conflicts";
  c.columns = {{"datid", oid::kOid},
               {"datname", oid::kName},
               {"confl_tablespace", oid::kInt8},
               {"confl_lock", oid::kInt8},
               {"confl_snapshot", oid::kInt8},
               {"confl_bufferpin", oid::kInt8},
               {"confl_deadlock", oid::kInt8}};
  c.rows = [this](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
    std::vector<sql::Row> rows;
    for (auto [dboid, name] :
         {std::pair<int, const char*>{5, "postgres"}, {1, "template1"}, {4, "template0"}}) {
      int64_t snap = dboid == 5 ? conflicts_snapshot_.load() : 0;
      int64_t lock = dboid == 5 ? conflicts_lock_.load() : 0;
      rows.push_back({Value::Int(oid::kOid, dboid), Value::Text(oid::kName, name),
                      Value::Int(oid::kInt8, 0), Value::Int(oid::kInt8, lock),
                      Value::Int(oid::kInt8, snap), Value::Int(oid::kInt8, 0),
                      Value::Int(oid::kInt8, 0)});
    }
    return rows;
  };
  registry_.AddView(std::move(c));
  // Per-database statistics walrep keeps (a subset of PostgreSQL 15's columns).
  sql::ViewDef d;
  d.name = "pg_stat_database";
  d.columns = {{"datid", oid::kOid},
               {"datname", oid::kName},
               {"numbackends", oid::kInt4},
               {"conflicts", oid::kInt8},
               {"temp_files", oid::kInt8},
               {"temp_bytes", oid::kInt8},
               {"stats_reset", oid::kTimestampTz}};
  d.rows = [this](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
    std::vector<sql::Row> rows;
    int32_t sessions = 0;
    for (const auto& b : Backends()) {
      MutexLock l(&b->mu);
      sessions += b->authenticated && b->backend_type == "client backend";
    }
    for (auto [dboid, name] :
         {std::pair<int, const char*>{5, "postgres"}, {1, "template1"}, {4, "template0"}}) {
      bool main = dboid == 5;
      rows.push_back(
          {Value::Int(oid::kOid, dboid), Value::Text(oid::kName, name),
           Value::Int(oid::kInt4, main ? sessions : 0),
           Value::Int(oid::kInt8, main ? conflicts_snapshot_.load() + conflicts_lock_.load() : 0),
           Value::Int(oid::kInt8, main ? temp_files_.load() : 0),
           Value::Int(oid::kInt8, main ? temp_bytes_.load() : 0), Value::Null(oid::kTimestampTz)});
    }
    return rows;
  };
  registry_.AddView(std::move(d));
  RegisterLocksView();
}

void Server::RemoveTempFiles() {
  std::string dir = TempFileDir();
  auto names = fs_->ListDir(dir);
  if (!names.ok()) return;  // none yet
  for (const std::string& n : *names) {
    if (n.rfind("pgsql_tmp", 0) != 0) continue;
    Status st = fs_->Remove(dir + "/" + n);
    if (!st.ok()) WALREP_LOG("could not remove temporary file \"{}\": {}", n, st.message());
  }
}

// pg_locks with PostgreSQL 15's columns: relation and transaction locks, granted and awaited
// (walrep keeps no virtualxid, page, tuple or advisory locks; fastpath is always false).
void Server::RegisterLocksView() {
  using sql::Value;
  namespace oid = sql::oid;
  sql::ViewDef v;
  v.name = "pg_locks";
  v.columns = {{"locktype", oid::kText},
               {"database", oid::kOid},
               {"relation", oid::kOid},
               {"page", oid::kInt4},
               {"tuple", oid::kInt2},
               {"virtualxid", oid::kText},
               {"transactionid", oid::kXid},
               {"classid", oid::kOid},
               {"objid", oid::kOid},
               {"objsubid", oid::kInt2},
               {"virtualtransaction", oid::kText},
               {"pid", oid::kInt4},
               {"mode", oid::kText},
               {"granted", oid::kBool},
               {"fastpath", oid::kBool},
               {"waitstart", oid::kTimestampTz}};
  v.rows = [this](sql::SessionContext&) -> Result<std::vector<sql::Row>> {
    std::vector<sql::Row> rows;
    for (const access::LockInfo& l : engine_->locks().List()) {
      bool rel = l.tag.type == access::LockTag::Type::kRelation;
      rows.push_back({Value::Text(oid::kText, rel ? "relation" : "transactionid"),
                      rel ? Value::Int(oid::kOid, l.tag.db) : Value::Null(oid::kOid),
                      rel ? Value::Int(oid::kOid, l.tag.id) : Value::Null(oid::kOid),
                      Value::Null(oid::kInt4), Value::Null(oid::kInt2), Value::Null(oid::kText),
                      rel ? Value::Null(oid::kXid) : Value::Int(oid::kXid, l.tag.id),
                      Value::Null(oid::kOid), Value::Null(oid::kOid), Value::Null(oid::kInt2),
                      Value::Text(oid::kText, l.virtual_xid), Value::Int(oid::kInt4, l.pid),
                      Value::Text(oid::kText, access::LockModeName(l.mode)), Value::Bool(l.granted),
                      Value::Bool(false), TimestampOrNull(l.wait_start)});
    }
    return rows;
  };
  registry_.AddView(std::move(v));
}

}  // namespace walrep::server
