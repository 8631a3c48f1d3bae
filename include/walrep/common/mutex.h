// walrep: an annotated Mutex, MutexLock and CondVar.
//
// libstdc++'s std::mutex carries no thread-safety annotations, so walrep wraps it (the reason for
// LevelDB's port_stdcxx.h). Under clang with -Wthread-safety the GUARDED_BY / REQUIRES
// annotations below are checked at compile time; under gcc they expand to nothing.
// Thread safety: these are the synchronisation primitives themselves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define WALREP_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define WALREP_THREAD_ANNOTATION_(x)
#endif

#define LOCKABLE WALREP_THREAD_ANNOTATION_(lockable)
#define SCOPED_LOCKABLE WALREP_THREAD_ANNOTATION_(scoped_lockable)
#define GUARDED_BY(x) WALREP_THREAD_ANNOTATION_(guarded_by(x))
#define PT_GUARDED_BY(x) WALREP_THREAD_ANNOTATION_(pt_guarded_by(x))
#define REQUIRES(...) WALREP_THREAD_ANNOTATION_(exclusive_locks_required(__VA_ARGS__))
#define EXCLUDES(...) WALREP_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) WALREP_THREAD_ANNOTATION_(exclusive_lock_function(__VA_ARGS__))
#define RELEASE(...) WALREP_THREAD_ANNOTATION_(unlock_function(__VA_ARGS__))
#define ACQUIRE_SHARED(...) WALREP_THREAD_ANNOTATION_(shared_lock_function(__VA_ARGS__))
#define RELEASE_SHARED(...) WALREP_THREAD_ANNOTATION_(unlock_function(__VA_ARGS__))
#define REQUIRES_SHARED(...) WALREP_THREAD_ANNOTATION_(shared_locks_required(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) WALREP_THREAD_ANNOTATION_(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS WALREP_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace walrep {

class LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis the caller holds it (a lambda run under the lock: clang does not carry
  // the enclosing function's locks into lambdas).
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

class SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A reader-writer lock: many holders in shared mode, or one in exclusive mode.
class LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderMutexLock() RELEASE() { mu_->UnlockShared(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterMutexLock() RELEASE() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable bound to one Mutex for its whole life.
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  // REQUIRES: mu_ held. Returns with it held again.
  void Wait() NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<std::mutex> lk(mu_->mu_, std::adopt_lock);
    cv_.wait(lk);
    lk.release();
  }
  // Returns false on timeout.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<std::mutex> lk(mu_->mu_, std::adopt_lock);
    bool r = cv_.wait_until(lk, deadline) == std::cv_status::no_timeout;
    lk.release();
    return r;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace walrep
