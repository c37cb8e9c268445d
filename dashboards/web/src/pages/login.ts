import { api, ApiError, errorMessage, type Session } from '../api.ts'
import type { Page } from '../context.ts'
import { h, replace } from '../dom.ts'
import { getLang, t, type Lang } from '../i18n.ts'

export function mountLogin(root: HTMLElement, opts: { onLogin(session: Session): void; chooseLang(lang: Lang): void }): Page {
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true, spellcheck: 'false', autocapitalize: 'off' })
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'btn btn-primary btn-wide' }, t('login.submit'))
  const error = h('p', { 'data-testid': 'login-error', class: 'form-error', role: 'alert', hidden: true })
  let busy = false

  const form = h('form', { class: 'login-card', novalidate: true },
    h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark' }, '▦'), 'gridline'),
    h('h1', {}, t('login.title')),
    h('p', { class: 'muted' }, t('login.subtitle')),
    h('label', { for: 'login-username' }, t('login.username')),
    username,
    h('label', { for: 'login-password' }, t('login.password')),
    password,
    error,
    submit,
    h('div', { class: 'langs login-langs' },
      ...(['vi', 'en'] as const).map((lang) =>
        h('button', { type: 'button', class: 'lang', 'data-testid': `lang-${lang}`, 'aria-pressed': String(getLang() === lang), onclick: () => opts.chooseLang(lang) }, lang.toUpperCase())),
    ),
  )

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    if (busy) return
    const name = username.value.trim()
    if (!name || !password.value) {
      showError(t('login.failed'))
      return
    }
    busy = true
    submit.disabled = true
    error.hidden = true
    api<Session>('/api/login', { method: 'POST', body: { username: name, password: password.value } })
      .then((session) => opts.onLogin(session))
      .catch((err: unknown) => {
        password.value = ''
        password.focus()
        if (err instanceof ApiError && err.code === 'GRIDLINE_LOGIN_THROTTLED') showError(t('login.throttled'))
        else if (err instanceof ApiError && err.status === 401) showError(t('login.failed'))
        else showError(t('login.error', { message: errorMessage(err) }))
      })
      .finally(() => {
        busy = false
        submit.disabled = false
      })
  })

  function showError(text: string): void {
    error.textContent = text
    error.hidden = false
  }

  replace(root, h('div', { class: 'login-wrap' }, form))
  username.focus()
  return { unmount: () => {} }
}
